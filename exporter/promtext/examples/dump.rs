//! Prints the families, samples and errors that `promtext::parse_bytes` finds in a file
//! (or in standard input): `cargo run -p promtext --example dump -- FILE`.

use std::io::Read;

fn main() -> std::io::Result<()> {
    let mut body = Vec::new();
    match std::env::args().nth(1) {
        Some(path) => body = std::fs::read(path)?,
        None => {
            std::io::stdin().read_to_end(&mut body)?;
        }
    }
    if let Some(decoded) = promtext::unwrap_json_string(&body) {
        body = decoded.into_bytes();
    }
    let exp = promtext::parse_bytes(&body);
    for f in &exp.families {
        println!("{} [{}] help={:?} samples={}", f.name, f.kind.as_str(), f.help, f.samples.len());
        for s in &f.samples {
            println!("    {} {:?} = {} ts={:?}", s.name, s.labels, s.value, s.timestamp_ms);
        }
    }
    for e in &exp.errors {
        println!("error line {}: {}", e.line, e.message);
    }
    println!(
        "{} families, {} samples, {} errors",
        exp.families.len(),
        exp.families.iter().map(|f| f.samples.len()).sum::<usize>(),
        exp.errors.len()
    );
    Ok(())
}
