//! The fields of a response event (or a request body) that the proxy measures, as typed
//! structs borrowing from the event's bytes. Every other field is skipped as it is read, so a
//! large body (an embedding, a long completion) costs no tree of values, only a pass over its
//! bytes. Measured fields are read leniently: a value of an unexpected type reads as absent (a
//! string where a count belongs, an array where an object belongs) instead of failing the
//! event. A measured key given twice fails it (unlike a map, which keeps the last).
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

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

/// A number: a count only where it is a non-negative integer.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub enum Num {
    /// Missing or `null`.
    #[default]
    Absent,
    Count(u64),
    Float(f64),
    /// Any other type.
    Other,
}

impl Num {
    pub fn count(self) -> Option<u64> {
        match self {
            Num::Count(n) => Some(n),
            _ => None,
        }
    }

    pub fn number(self) -> Option<f64> {
        match self {
            Num::Count(n) => Some(n as f64),
            Num::Float(f) => Some(f),
            _ => None,
        }
    }
}

/// A string, borrowed unless it had escapes.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Text<'a> {
    /// Missing or `null`.
    #[default]
    Absent,
    Str(Cow<'a, str>),
    /// Any other type.
    Other,
}

impl Text<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Text::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Whether a value is a non-empty string or array (read without copying either).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Filled(pub bool);

/// An object read as `T`; anything else reads as `None`.
pub struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
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

/// What a lenient value makes of each kind of JSON value; what is not said reads as its
/// default, the value itself skipped.
trait Lenient<'de>: Default {
    fn other() -> Self {
        Self::default()
    }
    fn from_u64(_: u64) -> Self {
        Self::other()
    }
    fn from_f64(_: f64) -> Self {
        Self::other()
    }
    fn from_str(_: &str) -> Self {
        Self::other()
    }
    fn from_borrowed_str(s: &'de str) -> Self {
        Self::from_str(s)
    }
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Self::other())
    }
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        IgnoredAny.visit_map(map)?;
        Ok(Self::other())
    }
}

impl Lenient<'_> for Num {
    fn other() -> Self {
        Num::Other
    }
    fn from_u64(n: u64) -> Self {
        Num::Count(n)
    }
    fn from_f64(f: f64) -> Self {
        Num::Float(f)
    }
}

impl<'de: 'a, 'a> Lenient<'de> for Text<'a> {
    fn other() -> Self {
        Text::Other
    }
    fn from_str(s: &str) -> Self {
        Text::Str(Cow::Owned(s.to_string()))
    }
    fn from_borrowed_str(s: &'de str) -> Self {
        Text::Str(Cow::Borrowed(s))
    }
}

impl<'de> Lenient<'de> for Filled {
    fn from_str(s: &str) -> Self {
        Filled(!s.is_empty())
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let filled = seq.next_element::<IgnoredAny>()?.is_some();
        IgnoredAny.visit_seq(seq)?;
        Ok(Filled(filled))
    }
}

impl<'de, T: Deserialize<'de>> Lenient<'de> for Obj<T> {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
    }
}

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

/// Reads any JSON value into a [`Lenient`] type.
struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: Lenient<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: Error>(self, _: bool) -> Result<T, E> {
        Ok(T::other())
    }
    fn visit_u64<E: Error>(self, n: u64) -> Result<T, E> {
        Ok(T::from_u64(n))
    }
    fn visit_i64<E: Error>(self, n: i64) -> Result<T, E> {
        Ok(T::from_f64(n as f64))
    }
    fn visit_f64<E: Error>(self, f: f64) -> Result<T, E> {
        Ok(T::from_f64(f))
    }
    fn visit_str<E: Error>(self, s: &str) -> Result<T, E> {
        Ok(T::from_str(s))
    }
    fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<T, E> {
        Ok(T::from_borrowed_str(s))
    }
    fn visit_unit<E: Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E: Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::from_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

macro_rules! lenient_deserialize {
    ($([$($generics:tt)*] $ty:ty),* $(,)?) => {$(
        impl<$($generics)*> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(LenientVisitor(PhantomData))
            }
        }
    )*};
}

lenient_deserialize!(
    ['de] Num,
    ['de: 'a, 'a] Text<'a>,
    ['de] Filled,
    ['de, T: Deserialize<'de>] Obj<T>,
    ['de: 'a, 'a] Response<'a>,
    ['de] Choices,
);
