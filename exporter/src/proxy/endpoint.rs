//! Which requests the proxy measures: generation and embedding endpoints of Ollama,
//! OpenAI-compatible servers, Anthropic-style servers and llama.cpp. The table is the bound
//! of the `endpoint` label: its values are these paths and nothing else.

/// What a measured endpoint produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Tokens, streamed or whole: time to first token and inter-token latency apply.
    Generation,
    /// Vectors or scores: duration and prompt tokens only.
    Embedding,
}

/// A measured endpoint: its path (the `endpoint` label) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub path: &'static str,
    pub kind: Kind,
    /// An Ollama `/api/…` endpoint (its responses name the backend).
    pub ollama: bool,
}

const fn generation(path: &'static str, ollama: bool) -> Endpoint {
    Endpoint { path, kind: Kind::Generation, ollama }
}

const fn embedding(path: &'static str, ollama: bool) -> Endpoint {
    Endpoint { path, kind: Kind::Embedding, ollama }
}

const ENDPOINTS: &[Endpoint] = &[
    generation("/api/generate", true),
    generation("/api/chat", true),
    embedding("/api/embed", true),
    embedding("/api/embeddings", true),
    generation("/v1/chat/completions", false),
    generation("/v1/completions", false),
    generation("/v1/responses", false),
    generation("/v1/messages", false),
    embedding("/v1/embeddings", false),
    generation("/completion", false),
    generation("/completions", false),
    generation("/chat/completions", false),
    generation("/infill", false),
    embedding("/embedding", false),
    embedding("/embeddings", false),
    embedding("/rerank", false),
    embedding("/v1/rerank", false),
    embedding("/reranking", false),
];

/// The endpoint a request is measured as: POST to one of the table's paths (a trailing slash
/// tolerated), else `None` (forwarded, not measured).
pub fn lookup(method: &http::Method, path: &str) -> Option<Endpoint> {
    if method != http::Method::POST {
        return None;
    }
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    ENDPOINTS.iter().find(|e| e.path == path).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_posts_to_known_paths_are_measured() {
        let post = http::Method::POST;
        assert_eq!(lookup(&post, "/api/chat").map(|e| e.kind), Some(Kind::Generation));
        assert_eq!(lookup(&post, "/v1/embeddings/").map(|e| e.path), Some("/v1/embeddings"));
        assert!(lookup(&post, "/api/chat").is_some_and(|e| e.ollama));
        assert_eq!(lookup(&http::Method::GET, "/api/chat"), None);
        assert_eq!(lookup(&post, "/api/pull"), None);
        assert_eq!(lookup(&post, "/v1/chat/completions/x"), None);
    }
}
