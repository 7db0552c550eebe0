//! How big a llama-server's KV cache is, from the settings it was started with: `-c`, `-np`,
//! `--kv-unified` and `--kv-unified-per-slot` on its command line, or the `LLAMA_ARG_*`
//! variables of its environment (discovery reads both from `/proc/PID`). Pure.
//!
//! No endpoint reports the size of the cache. `/slots` gives each slot's `n_ctx`, which is
//! the cache only when each slot owns its share: with a unified cache (the default when `-np`
//! is not given: 4 slots sharing one cache) every slot reports the whole cache, capped by the
//! model's training context, so summing them counts the cache several times over.

/// What a llama-server's settings say about its KV cache. `None` fields were not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvLayout {
    /// `-c`/`--ctx-size`: the whole cache in tokens; 0 means the model's training context.
    pub ctx_size: Option<u64>,
    /// `-np`/`--parallel`; -1 (auto) or unset means 4 slots and a unified cache.
    pub parallel: Option<i64>,
    /// `-kvu`/`--kv-unified` or `-no-kvu`/`--no-kv-unified`.
    pub unified: Option<bool>,
    /// `--kv-unified-per-slot`: sizes the cache to `parallel × N` when `-c` is not given.
    pub per_slot: Option<u64>,
    /// `--sleep-idle-seconds N` with N > 0: the server unloads its model when idle, and any
    /// `/slots` read counts as activity (it keeps the model loaded), so `/slots` is read only
    /// while a request runs. Not about the KV cache, but read from the same settings.
    pub sleeps: bool,
}

/// Slots llama-server runs when `-np` is not given (or is -1).
const AUTO_SLOTS: u64 = 4;
/// llama.cpp rounds context sizes up to a multiple of this (`GGML_PAD(n_ctx, 256)`).
const PAD: u64 = 256;

impl KvLayout {
    /// The environment variables [`KvLayout::parse`] reads.
    pub const ENV: [&'static str; 5] = [
        "LLAMA_ARG_CTX_SIZE",
        "LLAMA_ARG_N_PARALLEL",
        "LLAMA_ARG_KV_UNIFIED",
        "LLAMA_ARG_KV_UNIFIED_PER_SLOT",
        "LLAMA_ARG_SLEEP_IDLE_SECONDS",
    ];

    /// Reads the layout from the environment (`KEY=VALUE` entries), then the command line,
    /// which overrides it, as llama-server does. Unknown or malformed values are ignored.
    pub fn parse(args: &[String], env: &[String]) -> KvLayout {
        let mut layout = KvLayout::default();
        for entry in env {
            if let Some((key, value)) = entry.split_once('=') {
                layout.set_env(key, value);
            }
        }
        let mut args = args.iter().skip(1);
        while let Some(arg) = args.next() {
            // llama.cpp accepts `--ctx_size` for `--ctx-size`.
            let arg = if arg.starts_with("--") { arg.replace('_', "-") } else { arg.clone() };
            match arg.as_str() {
                "-c" | "--ctx-size" => layout.ctx_size = args.next().and_then(|v| v.parse().ok()),
                "-np" | "--parallel" => layout.parallel = args.next().and_then(|v| v.parse().ok()),
                "--kv-unified-per-slot" => layout.per_slot = args.next().and_then(|v| v.parse().ok()),
                "-kvu" | "--kv-unified" => layout.unified = Some(true),
                "-no-kvu" | "--no-kv-unified" => layout.unified = Some(false),
                "--sleep-idle-seconds" => layout.sleeps = args.next().and_then(|v| v.parse::<i64>().ok()) > Some(0),
                _ => {}
            }
        }
        layout
    }

    fn set_env(&mut self, key: &str, value: &str) {
        match key {
            "LLAMA_ARG_CTX_SIZE" => self.ctx_size = value.parse().ok(),
            "LLAMA_ARG_N_PARALLEL" => self.parallel = value.parse().ok(),
            "LLAMA_ARG_KV_UNIFIED_PER_SLOT" => self.per_slot = value.parse().ok(),
            "LLAMA_ARG_SLEEP_IDLE_SECONDS" => self.sleeps = value.parse::<i64>().ok() > Some(0),
            "LLAMA_ARG_KV_UNIFIED" => {
                self.unified = match value {
                    "on" | "enabled" | "true" | "1" => Some(true),
                    "off" | "disabled" | "false" | "0" => Some(false),
                    _ => self.unified,
                }
            }
            _ => {}
        }
    }

    /// Slots the server runs and whether they share one cache, after llama-server's defaults.
    fn slots_and_unified(&self) -> (u64, bool) {
        match self.parallel {
            Some(n) if n > 0 => (n as u64, self.unified.unwrap_or(false)),
            // Auto: 4 slots, and a unified cache unless `-no-kvu` says otherwise.
            _ => (AUTO_SLOTS, self.unified.unwrap_or(true)),
        }
    }

    /// The cache size in tokens, given the `n_ctx` each slot reports; `None` when neither the
    /// settings nor the slots tell.
    pub fn capacity(&self, slot_n_ctx: &[u64]) -> Option<u64> {
        let (slots, unified) = self.slots_and_unified();
        let ctx = match (self.ctx_size.filter(|&c| c > 0), self.per_slot.filter(|&n| n > 0)) {
            (Some(ctx), _) => Some(ctx),
            (None, Some(per_slot)) if unified && self.ctx_size.is_none() => Some(slots.saturating_mul(per_slot)),
            _ => None,
        };
        let pad = |n: u64| n.div_ceil(PAD).saturating_mul(PAD);
        let capacity = match (ctx, unified) {
            (Some(ctx), true) => pad(ctx),
            // Each slot gets its padded share (llama_context: n_ctx_seq = pad(n_ctx / n_seq)).
            (Some(ctx), false) => pad(pad(ctx) / slots).saturating_mul(slots),
            // The model's training context, which every slot of a unified cache reports.
            (None, true) => slot_n_ctx.iter().copied().max()?,
            (None, false) => slot_n_ctx.iter().sum(),
        };
        (capacity > 0).then_some(capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str, env: &[&str]) -> KvLayout {
        let args: Vec<String> = args.split_whitespace().map(String::from).collect();
        let env: Vec<String> = env.iter().map(|e| e.to_string()).collect();
        KvLayout::parse(&args, &env)
    }

    #[test]
    fn default_slots_share_one_cache_of_the_given_size() {
        // The 2026 default: no -np, 4 slots each reporting min(-c, n_ctx_train).
        let layout = parse("llama-server -m m.gguf -c 8192 --port 8080", &[]);
        assert_eq!(layout.capacity(&[4096; 4]), Some(8192));
        // Without -c the cache is the training context, which each slot reports.
        assert_eq!(parse("llama-server -m m.gguf", &[]).capacity(&[4096; 4]), Some(4096));
        assert_eq!(parse("llama-server -np -1 -c 0", &[]).capacity(&[32768; 4]), Some(32768));
    }

    #[test]
    fn explicit_slots_own_their_share_unless_unified() {
        assert_eq!(parse("llama-server -np 4 -c 8192", &[]).capacity(&[2048; 4]), Some(8192));
        // 1000 is padded to 1024, a third of it to 512 per slot.
        assert_eq!(parse("llama-server -np 3 -c 1000", &[]).capacity(&[512; 3]), Some(1536));
        assert_eq!(parse("llama-server --parallel 2 -kvu -c 1000", &[]).capacity(&[1024; 2]), Some(1024));
        assert_eq!(parse("llama-server -np 4", &[]).capacity(&[2048; 4]), Some(8192));
        assert_eq!(parse("llama-server --no-kv-unified", &[]).capacity(&[1024; 4]), Some(4096));
        assert_eq!(parse("llama-server --kv-unified-per-slot 2048", &[]).capacity(&[2048; 4]), Some(8192));
    }

    #[test]
    fn the_command_line_overrides_the_environment() {
        let env = ["LLAMA_ARG_CTX_SIZE=16384", "LLAMA_ARG_N_PARALLEL=2", "LLAMA_ARG_KV_UNIFIED=1", "PATH=/bin"];
        assert_eq!(parse("llama-server", &env).capacity(&[16384, 16384]), Some(16384));
        assert_eq!(parse("llama-server -c 4096 --no-kv-unified", &env).capacity(&[2048, 2048]), Some(4096));
        assert_eq!(parse("llama-server --ctx_size 512", &[]).ctx_size, Some(512));
    }

    #[test]
    fn a_server_that_sleeps_when_idle() {
        assert!(parse("llama-server --sleep-idle-seconds 300", &[]).sleeps);
        assert!(parse("llama-server", &["LLAMA_ARG_SLEEP_IDLE_SECONDS=60"]).sleeps);
        assert!(!parse("llama-server --sleep-idle-seconds 0", &["LLAMA_ARG_SLEEP_IDLE_SECONDS=60"]).sleeps);
        assert!(!parse("llama-server --sleep-idle-seconds -1", &[]).sleeps);
        assert!(!parse("llama-server --sleep-idle-seconds", &[]).sleeps);
        assert!(!parse("llama-server", &[]).sleeps);
    }

    #[test]
    fn hostile_values_are_ignored() {
        for args in ["llama-server -c", "llama-server -c -5 -np x", "llama-server -c 99999999999999999999999"] {
            assert_eq!(parse(args, &["LLAMA_ARG_KV_UNIFIED=maybe", "=", "LLAMA_ARG_CTX_SIZE"]).ctx_size, None);
        }
        assert_eq!(parse("llama-server -c 18446744073709551615", &[]).capacity(&[]), Some(u64::MAX));
        assert_eq!(parse("llama-server", &[]).capacity(&[]), None);
        assert_eq!(parse("llama-server -np 4 -c 0", &[]).capacity(&[0, 0]), None);
    }
}
