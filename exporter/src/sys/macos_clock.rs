//! The clock of the CPU times macOS reports (`pti_total_*` of `proc_pidinfo`): Mach absolute
//! time units, whose length the exporter must know to turn them into seconds. Pure, so it is
//! unit-tested on any host; `macos.rs` reads the three inputs.
//!
//! A native build asks `mach_timebase_info` (1/1 on Intel, where a unit is a nanosecond;
//! 125/3 on Apple Silicon, a 24 MHz tick of 41.67 ns). The Intel build run by Rosetta on
//! Apple Silicon is told 1/1, because Rosetta converts the clock it reads itself, but the
//! kernel still reports other processes' times in native 24 MHz ticks: 1/1 would make them
//! 41.7 times too small. There the length comes from `hw.tbfrequency`, the ticks per second
//! of the hardware clock, and `sysctl.proc_translated` (1 under Rosetta) says which applies.

/// Nanoseconds = ticks × numer ÷ denom (`mach_timebase_info_data_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timebase {
    pub numer: u32,
    pub denom: u32,
}

impl Timebase {
    /// Mach absolute time units as microseconds.
    pub fn micros(self, ticks: u64) -> u64 {
        let (numer, denom) = if self.denom == 0 { (1, 1) } else { (self.numer, self.denom) };
        let micros = u128::from(ticks) * u128::from(numer) / (u128::from(denom) * 1000);
        u64::try_from(micros).unwrap_or(u64::MAX)
    }

    /// The timebase of a clock of `hz` ticks per second, or `None` for 0 or a frequency
    /// that does not fit (reduced, 10⁹/`hz` must fit two `u32`s).
    pub fn of_frequency(hz: u64) -> Option<Timebase> {
        const NANOS: u64 = 1_000_000_000;
        if hz == 0 {
            return None;
        }
        let divisor = gcd(NANOS, hz);
        Some(Timebase { numer: u32::try_from(NANOS / divisor).ok()?, denom: u32::try_from(hz / divisor).ok()? })
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The timebase of the CPU times the kernel reports: `mach` for a native process; for one
/// that Rosetta translates, the hardware clock's (`hw.tbfrequency`), or `None` when that
/// cannot be read, and then CPU times are left out rather than reported 41.7 times too small.
pub fn cpu_timebase(mach: Timebase, translated: bool, tb_frequency_hz: Option<u64>) -> Option<Timebase> {
    if !translated {
        return Some(mach);
    }
    Timebase::of_frequency(tb_frequency_hz?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Timebase = Timebase { numer: 1, denom: 1 };

    #[test]
    fn units_as_microseconds() {
        assert_eq!(ONE.micros(5_000), 5);
        assert_eq!(Timebase { numer: 125, denom: 3 }.micros(24_000), 1_000);
        assert_eq!(Timebase { numer: 1, denom: 0 }.micros(7_000), 7);
        assert_eq!(Timebase { numer: u32::MAX, denom: 1 }.micros(u64::MAX), u64::MAX);
    }

    #[test]
    fn native_processes_use_mach_timebase_info() {
        let m1 = Timebase { numer: 125, denom: 3 };
        assert_eq!(cpu_timebase(m1, false, Some(24_000_000)), Some(m1));
        // An Intel Mac: no Rosetta, no sysctl.proc_translated.
        assert_eq!(cpu_timebase(ONE, false, None), Some(ONE));
    }

    #[test]
    fn under_rosetta_the_hardware_clock_counts() {
        // What the Intel build sees on Apple Silicon: mach_timebase_info says 1/1, the
        // hardware clock ticks at 24 MHz, and 90 s of CPU are 2,160,000,000 ticks.
        let timebase = cpu_timebase(ONE, true, Some(24_000_000));
        assert_eq!(timebase, Some(Timebase { numer: 125, denom: 3 }));
        assert_eq!(timebase.map(|t| t.micros(2_160_000_000)), Some(90_000_000));
        // Not 1/1, which would give 2.16 s.
        assert_ne!(timebase, Some(ONE));
        // No usable frequency: no CPU times at all, rather than wrong ones.
        assert_eq!(cpu_timebase(ONE, true, None), None);
        assert_eq!(cpu_timebase(ONE, true, Some(0)), None);
        assert_eq!(Timebase::of_frequency(1_000_000_000), Some(ONE));
        assert_eq!(Timebase::of_frequency(u64::MAX), None);
    }
}
