//! Prints the families, samples and errors that `promtext::parse` finds in a file
//! (or in standard input): `cargo run -p promtext --example dump -- FILE`.

use std::io::Read;

fn main() -> std::io::Result<()> {
    let mut body = String::new();
    match std::env::args().nth(1) {
        Some(path) => body = String::from_utf8_lossy(&std::fs::read(path)?).into_owned(),
        None => {
            std::io::stdin().read_to_string(&mut body)?;
        }
    }
    if let Some(decoded) = promtext::unwrap_json_string(&body) {
        body = decoded;
    }
    let exp = promtext::parse(&body);
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
