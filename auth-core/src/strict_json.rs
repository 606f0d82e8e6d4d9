//! JSON for token payloads, parsed strictly: a member name that appears twice in one object
//! (at any depth) is an error, never "last one wins". A proxy or another service that reads
//! the first value would otherwise see a different token than we do.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The member `name` of `map`. A token's claim set is small: a scan with `memcmp` beats hashing
/// the name (SipHash, with `preserve_order`) until objects grow past a few dozen members.
pub(crate) fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if map.len() <= 24 {
        map.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
    } else {
        map.get(name)
    }
}

/// A JSON object whose members are all unique, recursively.
pub(crate) fn object_without_duplicates(bytes: &[u8]) -> Option<Map<String, Value>> {
    // As `serde_json::from_slice`, with room for a typical claim set in the top-level object
    // at once (no regrowth and rehash on the way); nested objects start empty, so that a
    // token of many tiny objects cannot make each one cost a claim set's room.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de.deserialize_any(StrictVisitor { capacity: 12 }).ok()?;
    de.end().ok()?;
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Any JSON value, read strictly (see the module's documentation).
pub(crate) struct Strict(pub(crate) Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(StrictVisitor { capacity: 0 })
            .map(Strict)
    }
}

/// A member name, borrowed from the input where it has no escapes. Two names are equal when
/// their unescaped text is.
#[derive(PartialEq, Eq)]
pub(crate) struct Name<'de>(std::borrow::Cow<'de, str>);

impl std::ops::Deref for Name<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(std::borrow::Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

struct StrictVisitor {
    /// The room an object starts with.
    capacity: usize,
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate member names")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::with_capacity(self.capacity);
        while let Some(name) = access.next_key::<String>()? {
            let Strict(value) = access.next_value()?;
            if map.insert(name, value).is_some() {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::object_without_duplicates as parse;

    #[test]
    fn duplicates_at_any_depth_are_refused() {
        assert!(parse(br#"{"a":1,"a":2}"#).is_none());
        assert!(parse(br#"{"x":{"roles":["u"],"roles":["admin"]}}"#).is_none());
        assert!(parse(br#"{"x":[{"k":1,"k":1}]}"#).is_none());
        // Escaped spellings of the same name are the same name.
        assert!(parse(br#"{"sub":"a","\u0073ub":"b"}"#).is_none());
    }

    #[test]
    fn everything_else_parses_as_serde_json_does() {
        let text = br#"{"a":1,"b":[true,null,"s",-2,3.5,18446744073709551615],"c":{"d":{}}}"#;
        let strict = parse(text).expect("valid");
        let plain: serde_json::Value = serde_json::from_slice(text).expect("valid");
        assert_eq!(serde_json::Value::Object(strict), plain);
        assert!(parse(b"[1]").is_none());
        assert!(parse(b"not json").is_none());
        assert_eq!(parse(b"{}"), Some(serde_json::Map::new()));
        assert!(parse(br#"{"n":1e400}"#).is_none());
    }
}
