//! Lenient reading of the JSON values the proxy measures: a value of an unexpected type reads
//! as absent or "other" instead of failing the whole event, and what is not kept (an array
//! where an object belongs, a string where a count belongs) is skipped without being built.
//! [`super::shapes`] puts these leaves into typed structs.
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

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

/// What a lenient value makes of each kind of JSON value; what is not said reads as its
/// default, the value itself skipped.
pub trait Lenient<'de>: Default {
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

/// Reads any JSON value into `T` (for [`Lenient`] types defined elsewhere).
pub fn deserialize<'de, D: Deserializer<'de>, T: Lenient<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(LenientVisitor(PhantomData))
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
);
