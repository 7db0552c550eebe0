//! A model id as a `model` label value: at most [`MAX_CHARS`] characters, and two ids that
//! differ stay two label values. Routers, llama-swap and the process series of their children
//! all cut ids here, so the same model gets the same label everywhere and one PromQL join
//! ties them together. [`model_label`] is the older rule the vLLM, SGLang, TGI, MLX and Ollama
//! backends (and the process series of Ollama's runners) use for a model name that may be a
//! path; it lives here so discovery and the collectors share it without importing each other.

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

/// A model name fit for a label: a path is cut to its last component (a directory would leak
/// into a label), and long names are cut to [`MAX_CHARS`].
pub fn model_label(name: &str) -> String {
    let name = name.trim();
    let name = if name.starts_with('/') || name.contains('\\') || name.starts_with('.') {
        name.trim_end_matches(['/', '\\']).rsplit(['/', '\\']).next().unwrap_or(name)
    } else {
        name
    };
    name.chars().take(MAX_CHARS).collect()
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

    #[test]
    fn model_labels() {
        assert_eq!(model_label("meta-llama/Llama-3.1-8B-Instruct"), "meta-llama/Llama-3.1-8B-Instruct");
        assert_eq!(model_label("/models/llama-3.1-8b/"), "llama-3.1-8b");
        assert_eq!(model_label("C:\\models\\m.gguf"), "m.gguf");
        assert_eq!(model_label(&"m".repeat(300)).len(), MAX_CHARS);
    }
}
