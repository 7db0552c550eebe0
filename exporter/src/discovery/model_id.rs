//! A model id as a `model` label value: at most [`MAX_CHARS`] characters, and two ids that
//! differ stay two label values. Routers, llama-swap and the process series of their children
//! all cut ids here, so the same model gets the same label everywhere and one PromQL join
//! ties them together.

/// The longest `model` label value.
pub const MAX_CHARS: usize = 128;

/// Characters of the hash that ends a cut id.
const HASH_CHARS: usize = 8;

/// `id` unchanged when it fits; else its first characters, `~` and 8 hex digits of a hash of
/// the whole id, [`MAX_CHARS`] in all. Cutting alone would make two long ids that share a
/// prefix one label, and the series of one of them would be lost.
pub fn label(id: &str) -> String {
    if id.chars().count() <= MAX_CHARS {
        return id.to_string();
    }
    let kept: String = id.chars().take(MAX_CHARS - HASH_CHARS - 1).collect();
    format!("{kept}~{:08x}", fnv1a(id.as_bytes()) as u32)
}

/// FNV-1a, 64 bits: stable across builds and platforms (the standard hasher is not promised
/// to be), so a label does not change when the exporter is upgraded.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_kept_and_long_ones_stay_distinct() {
        assert_eq!(label("qwen2.5-7b"), "qwen2.5-7b");
        let exact = "x".repeat(MAX_CHARS);
        assert_eq!(label(&exact), exact);
        let prefix = "org/".to_string() + &"m".repeat(126);
        let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
        let (la, lb) = (label(&a), label(&b));
        assert_ne!(la, lb, "two ids that share their first 128 characters");
        assert_eq!(la.chars().count(), MAX_CHARS);
        assert!(la.starts_with("org/mmm") && la.contains('~'), "{la}");
        assert_eq!(label(&a), la, "stable");
        // Characters, not bytes: a multi-byte id is cut on a character boundary.
        assert_eq!(label(&"é".repeat(200)).chars().count(), MAX_CHARS);
    }
}
