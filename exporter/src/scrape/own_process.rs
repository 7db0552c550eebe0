//! The exporter's own `process_*` series, under the names every Prometheus client library
//! uses, read from `/proc` at scrape time with the precision it gives: CPU time in clock ticks
//! (1/100 s on most kernels). The `prometheus` crate's process collector keeps CPU time in an
//! integer counter, so its `process_cpu_seconds_total` moved in whole seconds and a rate over
//! a few minutes read as 0 or a spike.
use std::path::Path;

use crate::collectors::process::ticks_per_second;
use crate::family::{Family, Labels};
use crate::sys::linux;

/// The seven `process_*` families for this process; empty when `/proc` cannot be read.
pub fn families() -> Vec<Family> {
    let proc = Path::new("/proc");
    let Some(raw) = linux::read_process(proc, std::process::id()) else { return Vec::new() };
    let ticks = ticks_per_second();
    let mut out =
        vec![Family::counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
            .with(Labels::new(), (raw.utime_ticks + raw.stime_ticks) as f64 / ticks)];
    let gauge = |name: &'static str, help: &'static str, value: Option<f64>| {
        value.map(|v| Family::gauge(name, help).with(Labels::new(), v))
    };
    let start = linux::boot_time(proc).map(|boot| boot + raw.start_ticks as f64 / ticks);
    out.extend(
        [
            gauge("process_open_fds", "Number of open file descriptors.", raw.open_fds.map(|n| n as f64)),
            gauge("process_max_fds", "Maximum number of open file descriptors.", raw.max_fds.map(|n| n as f64)),
            gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", Some(raw.virtual_bytes as f64)),
            gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                raw.resident_bytes.map(|n| n as f64),
            ),
            gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", start),
            gauge("process_threads", "Number of OS threads in the process.", Some(raw.threads as f64)),
        ]
        .into_iter()
        .flatten(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(families: &[Family], name: &str) -> f64 {
        let family = families.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{name} missing"));
        family.samples[0].value
    }

    #[test]
    fn cpu_time_has_the_precision_of_a_clock_tick() {
        let start = std::time::Instant::now();
        let mut fractional = false;
        // Burn CPU until the counter shows a fraction of a second (bounded by a generous wait).
        while !fractional && start.elapsed() < std::time::Duration::from_secs(20) {
            let mut x = 0u64;
            for i in 0..2_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            let cpu = value(&families(), "process_cpu_seconds_total");
            fractional = cpu.fract() != 0.0;
        }
        assert!(fractional, "process_cpu_seconds_total never had a fraction of a second");
        let families = families();
        assert_eq!(families.len(), 7);
        assert!(value(&families, "process_resident_memory_bytes") > 0.0);
        assert!(value(&families, "process_threads") >= 1.0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let started = value(&families, "process_start_time_seconds");
        assert!(started <= now + 1.0 && started > now - 3600.0, "{started} vs {now}");
    }
}
