//! The parser must not panic on any input: mutated fixtures and pathological bodies.

use promtext::{parse, parse_bytes, parse_line, unwrap_json_string, Exposition};

/// Deterministic xorshift64 generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"{}\"\\=,# \t\r\n.eE+-0123456789_:aNnIif()\x00\xff\xc3";

fn fixtures() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fixtures dir") {
        let path = entry.expect("dir entry").path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "txt" | "metrics" | "json") {
            out.push(std::fs::read(&path).expect("fixture"));
        }
    }
    out.sort();
    out
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let pos = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if pos < v.len() => v[pos] = INTERESTING[rng.below(INTERESTING.len())],
            1 => v.insert(pos, INTERESTING[rng.below(INTERESTING.len())]),
            2 if pos < v.len() => {
                v.remove(pos);
            }
            3 => v.truncate(pos),
            4 if pos < v.len() => {
                let end = (pos + rng.below(64)).min(v.len());
                let chunk = v[pos..end].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            _ if pos < v.len() => v[pos] = rng.next() as u8,
            _ => {}
        }
    }
    v
}

/// Consistency checks that hold for any result.
fn check(text: &str, exp: &Exposition<'_>) {
    let lines = text.split('\n').count();
    let samples: usize = exp.families.iter().map(|f| f.samples.len()).sum();
    assert!(samples + exp.errors.len() <= lines);
    assert!(exp.errors.iter().all(|e| e.line >= 1 && e.line <= lines));
    assert!(exp.errors.windows(2).all(|w| w[0].line <= w[1].line));
}

#[test]
fn mutated_fixtures_never_panic() {
    let inputs = fixtures();
    assert!(inputs.len() >= 10);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for round in 0..4000 {
        let base = &inputs[round % inputs.len()];
        let bytes = mutate(&mut rng, base);
        let text = String::from_utf8_lossy(&bytes);
        let exp = parse(&text);
        check(&text, &exp);
        for line in text.lines().take(20) {
            let _ = parse_line(line);
        }
        let _ = unwrap_json_string(text.as_bytes());
        // Raw bytes too: lines that are not UTF-8 are errors, never a panic.
        let raw = parse_bytes(&bytes);
        assert!(raw.errors.len() <= raw.error_count);
        let quoted = format!("\"{}\"", text.replace('\n', "\\n"));
        let _ = unwrap_json_string(&quoted);
    }
}

#[test]
fn pathological_bodies() {
    let huge_value = format!("m{{a=\"{}\"}} 1\n", "x".repeat(1 << 20));
    let escapes = format!("m{{a=\"{}\"}} 1\n", "\\\\\\\"\\n\\q".repeat(50_000));
    let bodies = [
        "{".repeat(200_000),
        "}".repeat(200_000),
        "\"".repeat(200_000),
        "\\".repeat(200_000),
        "# ".repeat(100_000),
        "m{".to_string() + &"a=\"b\",".repeat(50_000) + "} 1",
        "m{".to_string() + &"\"q\",".repeat(50_000) + "} 1",
        "\n".repeat(200_000),
        "\r\n".repeat(100_000),
        "a 1\n".repeat(50_000),
        "9".repeat(100_000),
        format!("m {}", "9".repeat(100_000)),
        format!("m 1 {}", "9".repeat(100_000)),
        format!("m 1 0.{}", "9".repeat(100_000)),
        huge_value.clone(),
        escapes.clone(),
        "# HELP m ".to_string() + &"\\".repeat(100_001),
        "# TYPE".to_string() + &" ".repeat(100_000) + "m",
        "\u{feff}m 1\n\u{2028}\n".to_string(),
        String::from_utf8_lossy(&(0u8..=255).cycle().take(100_000).collect::<Vec<_>>()).into_owned(),
    ];
    for body in &bodies {
        let exp = parse(body);
        check(body, &exp);
        let _ = unwrap_json_string(body);
    }
    let exp = parse(&huge_value);
    assert_eq!(exp.families[0].samples[0].label("a").map(str::len), Some(1 << 20));
    let exp = parse(&escapes);
    assert_eq!(exp.errors, vec![]);
    assert_eq!(exp.families[0].samples[0].label("a").map(str::len), Some(50_000 * 5));
    let exp = parse(&bodies[9]);
    assert_eq!((exp.families.len(), exp.families[0].samples.len()), (1, 50_000));
}
