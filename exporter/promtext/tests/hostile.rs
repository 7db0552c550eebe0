//! Bodies a misbehaving target sends: what is kept must follow what the caller uses, and
//! lines that break the format's rules are errors for that line only.

use promtext::{parse, parse_bytes, parse_selected, Wanted, MAX_KEPT_ERRORS};

#[test]
fn a_label_named_twice_is_an_error_for_that_line_only() {
    let exp = parse("a{a=\"1\",a=\"1\"} 1\nb{x=\"1\",y=\"2\",x=\"3\"} 2\nc{x=\"1\"} 3\n");
    let lines: Vec<usize> = exp.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![1, 2]);
    assert!(exp.errors[0].message.starts_with("label name given twice at column 9"), "{:?}", exp.errors[0]);
    assert!(exp.family("a").is_none() && exp.family("b").is_none());
    assert_eq!(exp.family("c").map(|f| f.samples[0].value), Some(3.0));
}

#[test]
fn a_label_named_twice_among_many_is_found() {
    let mut labels: Vec<String> = (0..40).map(|i| format!("l{i}=\"v\"")).collect();
    labels.push("l7=\"again\"".into());
    let body = format!("many{{{}}} 1\n", labels.join(","));
    let exp = parse(&body);
    assert_eq!(exp.error_count, 1);
    assert!(exp.families.is_empty());
}

#[test]
fn invalid_utf8_is_an_error_for_its_line_and_the_rest_is_kept() {
    let body = b"good{a=\"x\"} 1\nbad{a=\"\xff\xfe\"} 2\nalso_good 3\n";
    let exp = parse_bytes(body);
    assert_eq!(exp.errors.len(), 1, "{:?}", exp.errors);
    assert_eq!(exp.errors[0].line, 2);
    assert!(exp.errors[0].message.starts_with("invalid UTF-8 at column 8"), "{}", exp.errors[0].message);
    let names: Vec<&str> = exp.families.iter().map(|f| f.name).collect();
    assert_eq!(names, ["good", "also_good"]);
}

#[test]
fn parse_bytes_equals_parse_on_text() {
    let body = "# HELP a help\n# TYPE a counter\na_total{x=\"y\"} 1\nnot a line\nb 2\n";
    assert_eq!(parse_bytes(body.as_bytes()), parse(body));
}

#[test]
fn only_the_first_errors_are_kept_and_all_are_counted() {
    let body = "x\n".repeat(100_000) + "ok 1\n";
    let exp = parse(&body);
    assert_eq!(exp.error_count, 100_000);
    assert_eq!(exp.errors.len(), MAX_KEPT_ERRORS);
    assert_eq!(exp.errors.last().map(|e| e.line), Some(MAX_KEPT_ERRORS));
    assert_eq!(exp.family("ok").map(|f| f.samples.len()), Some(1));
}

#[test]
fn unselected_samples_and_families_are_not_kept() {
    let mut body = String::new();
    for i in 0..10_000 {
        body.push_str(&format!(
            "# HELP vllm:unmapped_{i} junk\n# TYPE vllm:unmapped_{i} gauge\nvllm:unmapped_{i}{{a=\"{i}\"}} {i}\n"
        ));
    }
    body.push_str("# TYPE vllm:kept counter\nvllm:kept_total 7\n# TYPE vllm:hist histogram\nvllm:hist_bucket{le=\"+Inf\"} 1\nvllm:hist_sum 2\nvllm:hist_count 1\n");
    let mut asked = 0usize;
    let exp = parse_selected(body.as_bytes(), &mut |wanted| {
        asked += 1;
        match wanted {
            Wanted::Sample(name) => {
                matches!(name, "vllm:kept_total" | "vllm:hist_bucket" | "vllm:hist_sum" | "vllm:hist_count")
            }
            Wanted::Family(name) => name == "vllm:hist",
        }
    });
    assert!(asked > 20_000);
    assert_eq!(exp.error_count, 0);
    assert_eq!(exp.skipped_samples, 10_000);
    let families: Vec<(&str, usize)> = exp.families.iter().map(|f| (f.name, f.samples.len())).collect();
    // The refused `# TYPE vllm:kept` leaves its sample untyped under its own name; the wanted
    // histogram family groups its samples as usual.
    assert_eq!(families, [("vllm:kept_total", 1), ("vllm:hist", 3)]);
}
