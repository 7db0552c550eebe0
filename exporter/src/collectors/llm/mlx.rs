//! MLX's `mlx_lm.server` (Apple Silicon, or MLX's CPU backend on Linux): it serves no metrics, so
//! `/v1/models` answering in its OpenAI shape is what says the server is up. That list is the
//! models in the local Hugging Face cache, plus the model loaded with `--model` when that is a
//! local directory, so the served model is named only when the list has just one.
//! Everything else about such a server comes from its process series (CPU, memory, energy).
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::http::{FetchError, Fetcher};
use super::normalize::model_label;
use crate::config::ServerConfig;
use crate::family::{labels, Family};

/// GETs `/v1/models`; it loads nothing.
pub async fn read(
    fetcher: &Fetcher,
    base: &Url,
    api_key: Option<&str>,
    timeout: Duration,
) -> Result<String, FetchError> {
    fetcher.get_text(base, "v1/models", api_key, timeout).await
}

/// Why an empty `/v1/models` is not a model list: mlx_lm.server answers 200 with no body when its
/// listing of the Hugging Face cache fails, which it does when the cache directory is missing.
pub const EMPTY_MODELS: &str = "GET /v1/models: 200 with an empty body; mlx_lm.server lists the Hugging Face \
     cache there and answers so when that directory does not exist (create it, or point HF_HUB_CACHE at one)";

/// True when a `/v1/models` answer is the empty body of a server without a Hugging Face cache.
pub fn is_empty_answer(models: &str) -> bool {
    models.trim().is_empty()
}

/// Shapes `/v1/models` into `llm_server_info`. `Err` when the body is not an OpenAI model list.
pub fn shape(server: &ServerConfig, models: &str) -> Result<Vec<Family>, String> {
    let value: Value = serde_json::from_str(models).map_err(|_| "/v1/models is not JSON".to_string())?;
    let data = value.get("data").and_then(Value::as_array).ok_or("/v1/models has no model list")?;
    let ids: Vec<&str> = data.iter().filter_map(|m| m.get("id").and_then(Value::as_str)).take(2).collect();
    let model = match ids.as_slice() {
        [only] => model_label(only),
        _ => String::new(),
    };
    let mut info_labels = labels([("server", &server.name), ("backend", "mlx")]);
    info_labels.extend([("model".into(), model), ("version".into(), String::new())]);
    let info = Family::gauge("llm_server_info", "Model served and server version; always 1 (mlx_lm.server /v1/models)");
    Ok(vec![info.with(info_labels, 1.0)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Backend;

    fn server() -> ServerConfig {
        ServerConfig {
            name: "mlx_lm.server:8080".into(),
            url: "http://127.0.0.1:8080/".parse().unwrap(),
            backend: Backend::Mlx,
            api_key: None,
            timeout: None,
            kv_cache_tokens: None,
        }
    }

    fn text(families: &[Family]) -> String {
        crate::family::encode_text(families)
    }

    #[test]
    fn one_cached_model_is_named_several_are_not() {
        let one = r#"{"object":"list","data":[{"id":"mlx-community/Qwen3-4B-4bit","object":"model","created":1}]}"#;
        assert!(text(&shape(&server(), one).unwrap()).contains(
            "llm_server_info{server=\"mlx_lm.server:8080\",backend=\"mlx\",model=\"mlx-community/Qwen3-4B-4bit\",version=\"\"} 1"
        ));
        let two = r#"{"object":"list","data":[{"id":"a"},{"id":"b"}]}"#;
        assert!(text(&shape(&server(), two).unwrap()).contains("model=\"\""));
    }

    #[test]
    fn the_listing_of_a_server_here_names_its_model_directory() {
        let body = fixture("mlx_lm_server_v1_models.json");
        assert!(text(&shape(&server(), &body).unwrap()).contains("model=\"tiny-llama-hf\""));
        assert!(!is_empty_answer(&body));
        assert!(is_empty_answer("") && is_empty_answer("\r\n"));
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn anything_else_is_not_mlx() {
        for body in ["", "[]", "{}", "{\"data\":3}", "<html></html>"] {
            assert!(shape(&server(), body).is_err(), "{body:?}");
        }
    }
}
