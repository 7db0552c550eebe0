//! llama.cpp's `/slots`, read without building a JSON tree: each entry is reduced to the four
//! fields we export as it is read, and entries past [`MAX_SLOTS`] are only counted, so a
//! body of a million slots costs what 512 do (a `serde_json::Value` tree of a 16 MiB body
//! took 400 MB).
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// At most this many slots are exported per server, so a hostile `/slots` cannot blow up
/// cardinality; the rest are counted as dropped series.
pub const MAX_SLOTS: usize = 512;

/// One entry of `/slots`, reduced to what we export.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub id: u64,
    pub n_ctx: Option<u64>,
    pub busy: bool,
    /// Tokens the slot's sequence holds in the KV cache; 0 for a slot that never ran.
    pub tokens: Option<u64>,
}

/// The slots kept, and how many usable ones were left out: past [`MAX_SLOTS`], or repeating
/// the id of one kept (two series with one label set would be an invalid exposition).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slots {
    pub kept: Vec<Slot>,
    pub left_out: usize,
}

/// Parses `/slots`. Builds differ: 2026 builds report `is_processing` and an
/// `n_prompt_tokens` that grows with every generated token; older ones `state` (0 = idle)
/// and `n_past`. Entries that are not objects with an `id` are skipped. `None` when the body
/// is not a JSON array.
pub fn parse_slots(body: &str) -> Option<Slots> {
    let mut de = serde_json::Deserializer::from_str(body);
    let slots = de.deserialize_seq(SlotsVisitor).ok()?;
    de.end().ok()?;
    Some(slots)
}

struct SlotsVisitor;

impl<'de> Visitor<'de> for SlotsVisitor {
    type Value = Slots;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of slots")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slots, A::Error> {
        let mut slots = Slots::default();
        while let Some(entry) = seq.next_element::<Entry>()? {
            let Some(slot) = entry.into_slot() else { continue };
            if slots.kept.len() < MAX_SLOTS && !slots.kept.iter().any(|kept| kept.id == slot.id) {
                slots.kept.push(slot);
            } else {
                slots.left_out += 1;
            }
        }
        Ok(slots)
    }
}

/// The fields of one entry that matter; anything else, or an entry that is not an object,
/// is skipped without being stored.
#[derive(Default)]
struct Entry {
    id: Scalar,
    n_ctx: Scalar,
    is_processing: Scalar,
    state: Scalar,
    n_past: Scalar,
    n_prompt_tokens: Scalar,
}

impl Entry {
    fn into_slot(self) -> Option<Slot> {
        let id = self.id.as_u64()?;
        let busy = match (self.is_processing, self.state) {
            (Scalar::Absent, Scalar::Absent) => return None,
            (Scalar::Absent, state) => state.as_u64()? != 0,
            (processing, _) => processing.as_bool()?,
        };
        let held = self.n_past.as_u64().or(self.n_prompt_tokens.as_u64());
        // A slot that never ran lists no token counts: it holds nothing.
        let tokens = held.or((!busy).then_some(0));
        Some(Slot { id, n_ctx: self.n_ctx.as_u64(), busy, tokens })
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entry, D::Error> {
        deserializer.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a slot object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut entry = Entry::default();
        while let Some(key) = map.next_key::<Key>()? {
            let field = match key {
                Key::Id => &mut entry.id,
                Key::NCtx => &mut entry.n_ctx,
                Key::IsProcessing => &mut entry.is_processing,
                Key::State => &mut entry.state,
                Key::NPast => &mut entry.n_past,
                Key::NPromptTokens => &mut entry.n_prompt_tokens,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *field = map.next_value()?;
        }
        Ok(entry)
    }

    // Anything else (a number, a string, an array) is not a slot: skipped.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Entry::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Entry, E> {
        Ok(Entry::default())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Entry, E> {
        Ok(Entry::default())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Entry, E> {
        Ok(Entry::default())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Entry, E> {
        Ok(Entry::default())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Entry, E> {
        Ok(Entry::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Entry, E> {
        Ok(Entry::default())
    }
}

/// A field name, compared without keeping it.
enum Key {
    Id,
    NCtx,
    IsProcessing,
    State,
    NPast,
    NPromptTokens,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
                Ok(match name {
                    "id" => Key::Id,
                    "n_ctx" => Key::NCtx,
                    "is_processing" => Key::IsProcessing,
                    "state" => Key::State,
                    "n_past" => Key::NPast,
                    "n_prompt_tokens" => Key::NPromptTokens,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// A field's value when it is a number or a boolean; anything else is read past and kept as
/// [`Scalar::Other`], so a field of the wrong type spoils only that entry.
#[derive(Default, Clone, Copy)]
enum Scalar {
    #[default]
    Absent,
    Unsigned(u64),
    Bool(bool),
    Other,
}

impl Scalar {
    fn as_u64(self) -> Option<u64> {
        match self {
            Scalar::Unsigned(n) => Some(n),
            _ => None,
        }
    }

    fn as_bool(self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scalar, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
                Ok(Scalar::Unsigned(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar, E> {
                Ok(u64::try_from(n).map_or(Scalar::Other, Scalar::Unsigned))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_generations_of_fields_and_odd_entries() {
        let body = r#"[{"id":0,"n_ctx":4096,"is_processing":true,"n_prompt_tokens":12,"params":{"x":[1,2]}},
            {"id":1,"state":0,"n_past":5},{"id":2,"state":1},{"id":"3","state":0},{"state":0},
            7,"x",[1],null,{"id":4,"is_processing":"yes"},{"id":5,"is_processing":false}]"#;
        let slots = parse_slots(body).unwrap();
        assert_eq!(
            slots.kept,
            [
                Slot { id: 0, n_ctx: Some(4096), busy: true, tokens: Some(12) },
                Slot { id: 1, n_ctx: None, busy: false, tokens: Some(5) },
                Slot { id: 2, n_ctx: None, busy: true, tokens: None },
                Slot { id: 5, n_ctx: None, busy: false, tokens: Some(0) },
            ]
        );
        assert_eq!(slots.left_out, 0);
        assert_eq!(parse_slots("{\"id\":1}"), None);
        assert_eq!(parse_slots("[{\"id\":1,\"state\":0}] trailing"), None);
    }

    #[test]
    fn slots_past_the_cap_are_counted_not_kept() {
        let entries: Vec<String> = (0..MAX_SLOTS + 88).map(|i| format!("{{\"id\":{i},\"state\":0}}")).collect();
        let slots = parse_slots(&format!("[{}]", entries.join(","))).unwrap();
        assert_eq!((slots.kept.len(), slots.left_out), (MAX_SLOTS, 88));
    }

    #[test]
    fn a_repeated_id_is_kept_once() {
        let slots = parse_slots(r#"[{"id":1,"state":0},{"id":1,"state":1},{"id":2,"state":1}]"#).unwrap();
        let ids: Vec<(u64, bool)> = slots.kept.iter().map(|s| (s.id, s.busy)).collect();
        assert_eq!((ids, slots.left_out), (vec![(1, false), (2, true)], 1));
    }
}
