//! The fields of a response event (or a request body) that the proxy measures, as typed
//! structs borrowing from the event's bytes. Every other field is skipped as it is read, so a
//! large body (an embedding, a long completion) costs no tree of values, only a pass over its
//! bytes. Measured fields are read leniently ([`super::lenient`]): a value of an unexpected
//! type reads as absent instead of failing the event. A measured key given twice fails it
//! (unlike a map, which keeps the last).
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess};
use serde::Deserialize;

use super::lenient::{self, Lenient};
pub use super::lenient::{Filled, Num, Obj, Text};

/// One event: a stream's line or a whole body, in any of the shapes the proxy reads (Ollama,
/// OpenAI-compatible, Anthropic-style, llama.cpp).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Doc<'a> {
    #[serde(borrow)]
    pub model: Text<'a>,
    pub error: Option<IgnoredAny>,
    /// Ollama chat's message, Anthropic's `message_start`.
    #[serde(borrow)]
    pub message: Obj<Message<'a>>,
    /// Ollama generate's text, or the Responses API's response object.
    #[serde(borrow)]
    pub response: Response<'a>,
    pub thinking: Filled,
    /// llama.cpp's text.
    pub content: Filled,
    #[serde(rename = "type", borrow)]
    pub kind: Text<'a>,
    pub delta: Filled,
    pub choices: Choices,
    pub usage: Obj<Usage>,
    pub timings: Obj<Timings>,
    pub prompt_eval_count: Num,
    pub eval_count: Num,
    pub load_duration: Num,
    pub prompt_eval_duration: Num,
    pub eval_duration: Num,
}

/// A message or response object: its model and usage, and (a message) its content.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Message<'a> {
    #[serde(borrow)]
    pub model: Text<'a>,
    pub usage: Obj<Usage>,
    pub content: Filled,
    pub thinking: Filled,
    pub tool_calls: Filled,
}

/// OpenAI `usage` (both APIs) and Anthropic `usage`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Usage {
    pub prompt_tokens: Num,
    pub input_tokens: Num,
    pub cache_read_input_tokens: Num,
    pub completion_tokens: Num,
    pub output_tokens: Num,
    pub prompt_tokens_details: Obj<Details>,
    pub input_tokens_details: Obj<Details>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Details {
    pub cached_tokens: Num,
}

/// llama.cpp `timings`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Timings {
    pub prompt_n: Num,
    pub cache_n: Num,
    pub predicted_n: Num,
    pub prompt_ms: Num,
    pub predicted_ms: Num,
}

/// One of OpenAI's `choices`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Choice {
    delta: Obj<Delta>,
    text: Filled,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Delta {
    content: Filled,
    thinking: Filled,
    tool_calls: Filled,
    reasoning_content: Filled,
    reasoning: Filled,
}

/// A request body, read for its `model` only.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Request<'a> {
    #[serde(borrow)]
    pub model: Text<'a>,
}

/// Ollama's `response` text, or the Responses API's `response` object.
#[derive(Default)]
pub struct Response<'a> {
    pub filled: bool,
    pub object: Option<Message<'a>>,
}

/// Whether any choice carries a content token (a text, reasoning or tool-call delta, or a
/// completion's `text`).
#[derive(Default)]
pub struct Choices(pub bool);

impl<'de: 'a, 'a> Lenient<'de> for Response<'a> {
    fn from_str(s: &str) -> Self {
        Response { filled: !s.is_empty(), object: None }
    }
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        Ok(Response { filled: Filled::from_seq(seq)?.0, object: None })
    }
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        Ok(Response { filled: false, object: Message::deserialize(MapAccessDeserializer::new(map)).map(Some)? })
    }
}

impl<'de> Lenient<'de> for Choices {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut any = false;
        while let Some(Obj(choice)) = seq.next_element::<Obj<Choice>>()? {
            any |= choice.is_some_and(|c| c.text.0 || c.delta.0.is_some_and(|d| d.has_content()));
        }
        Ok(Choices(any))
    }
}

impl Delta {
    fn has_content(&self) -> bool {
        [self.content, self.thinking, self.tool_calls, self.reasoning_content, self.reasoning].iter().any(|f| f.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Response<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::deserialize(d)
    }
}

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::deserialize(d)
    }
}
