//! Criterion benchmark of `promtext::parse` over every fixture and two synthetic vLLM-style
//! bodies (~250 KB and ~2 MB), reported as bytes per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod common;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, body) in common::inputs() {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| b.iter(|| promtext::parse(black_box(&body))));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = parse
}
criterion_main!(benches);
