//! JSON for token payloads, parsed strictly: a member name that appears twice in one object
//! (at any depth) is an error, never "last one wins". A proxy or another service that reads
//! the first value would otherwise see a different token than we do.
//!
//! A verified token's payload is read in one pass ([`Payload`]): every byte is checked, but
//! only the small top-level members (the registered claims, a handful of strings) are built
//! as values; a large one (a thousand roles) is validated and built on first use, so a
//! request that never reads it never pays for it.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

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
    // UTF-8 checked once for the whole text: much faster than string by string.
    let mut de = serde_json::Deserializer::from_str(std::str::from_utf8(bytes).ok()?);
    let mut ctx = Ctx::unbounded();
    let value = Walk {
        ctx: &mut ctx,
        build: true,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    match value {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Values a top-level member may hold and still be built during the pass (the member, its
/// elements and theirs): `aud`, `cnf`, a few roles. A larger one is validated only.
const EAGER_VALUES: usize = 32;

/// A token's payload, read strictly in one pass: its text, its top-level members (built, or
/// `None` when too large to build before anyone asks), and what it can all weigh.
pub(crate) struct Payload {
    text: Vec<u8>,
    members: Vec<(String, Option<Value>)>,
    weight: u64,
    /// Every member, as a map: built from the text on first use.
    full: OnceLock<Map<String, Value>>,
}

impl Payload {
    /// `text` when it is a JSON object without duplicate member names at any depth (else
    /// `text` back).
    pub(crate) fn parse(text: Vec<u8>) -> Result<Self, Vec<u8>> {
        // UTF-8 checked once for the whole text: much faster than string by string.
        let Ok(utf8) = std::str::from_utf8(&text) else {
            return Err(text);
        };
        let mut de = serde_json::Deserializer::from_str(utf8);
        let mut ctx = Ctx::unbounded();
        let Ok(members) = de.deserialize_map(TopLevel { ctx: &mut ctx }) else {
            return Err(text);
        };
        if de.end().is_err() {
            return Err(text);
        }
        // What the authorities resolved from its strings can take: one entry per word, and
        // a string has at most one more word than separators (counted over the whole text
        // at once, an upper bound).
        let separators = separators(&text);
        Ok(Self {
            weight: ctx.weight.saturating_add(AUTHORITY * separators),
            text,
            members,
            full: OnceLock::new(),
        })
    }

    /// The top-level member `name` (built now if it was too large to build in the pass).
    pub(crate) fn member(&self, name: &str) -> Option<&Value> {
        match self.members.iter().find(|(k, _)| k == name)? {
            (_, Some(value)) => Some(value),
            (_, None) => member(self.full(), name),
        }
    }

    /// Every member, as a map (built from the text on first use).
    pub(crate) fn full(&self) -> &Map<String, Value> {
        self.full.get_or_init(|| {
            // The text was read strictly once already: it cannot fail now.
            object_without_duplicates(&self.text).unwrap_or_default()
        })
    }

    /// The payload's JSON text (a strictly checked object).
    pub(crate) fn text(&self) -> &[u8] {
        &self.text
    }

    /// What these claims can take in memory once every part of them is built: the text, the
    /// members built in the pass, the whole map built from the text on first use (the small
    /// members then twice), and the authorities resolved from it.
    pub(crate) fn weight(&self) -> u64 {
        (self.text.len() as u64).saturating_add(self.weight)
    }
}

/// The memory a built JSON value takes besides its own slot (counted by the array or object
/// that holds it), as an upper bound from its shape: the slots of an array or object with a
/// growing vector's spare room, an object's hash index, the heap's share of each allocation,
/// every string's bytes, and what the roles, groups and scopes resolved from a string can
/// take (one entry per whitespace-separated word, resolved on first use, so counted whether
/// resolved yet or not). An array of 3,000 zeros weighs 3,000 slots, not the 6 KB of its
/// text.
pub(crate) fn weight_of(value: &Value) -> u64 {
    match value {
        Value::String(s) => string_weight(s) + AUTHORITY * separators(s.as_bytes()),
        Value::Array(items) => array_weight(items.len()) + items.iter().map(weight_of).sum::<u64>(),
        Value::Object(map) => map_weight(map),
        _ => 0,
    }
}

/// [`weight_of`] an object.
pub(crate) fn map_weight(map: &Map<String, Value>) -> u64 {
    object_weight(map.len())
        + map
            .iter()
            .map(|(k, v)| bytes_weight(k.len()) + weight_of(v))
            .sum::<u64>()
}

/// One built value's slot (with `preserve_order`).
const VALUE: u64 = std::mem::size_of::<Value>() as u64;

/// One object entry besides its value: the name's `String` and its hash.
const ENTRY: u64 = (std::mem::size_of::<String>() + 8) as u64;

/// The heap's own share of an allocation (its header, and the smallest chunk it hands out).
const ALLOCATION: u64 = 32;

/// An array of `n` values: its slots, with a growing vector's spare room (up to twice over,
/// four at least).
fn array_weight(n: usize) -> u64 {
    match n as u64 {
        0 => 0,
        n => VALUE * (2 * n + 4) + ALLOCATION,
    }
}

/// An object of `n` members: its entries (up to twice over as they grow, three at least) and
/// its hash index (a 9-byte slot, at most 2.3 per entry, four at least, and a group's padding).
fn object_weight(n: usize) -> u64 {
    match n as u64 {
        0 => 0,
        n => (VALUE + ENTRY) * (2 * n + 3) + 21 * n + 52 + 2 * ALLOCATION,
    }
}

/// A name's or a string's bytes on the heap.
fn bytes_weight(len: usize) -> u64 {
    len as u64 + ALLOCATION
}

/// A string, and the one authority it is at least (separators add the others): its copy of
/// the bytes, its own allocation and its slot in the authorities.
fn string_weight(s: &str) -> u64 {
    bytes_weight(s.len()) + s.len() as u64 + AUTHORITY
}

/// What one resolved role, group or scope takes besides its bytes: its `String` (with the
/// list's spare room) and its allocation.
const AUTHORITY: u64 = 2 * std::mem::size_of::<String>() as u64 + ALLOCATION;

/// The bytes of `text` that may begin a whitespace character (`char::is_whitespace`, which
/// scopes are split on): ASCII whitespace, the first byte of U+0085, U+00A0, U+1680,
/// U+2000–U+205F or U+3000, or a backslash (an escape such as `\t` or `\u3000` in JSON text).
/// An over-count is harmless; it only has to miss none.
fn separators(text: &[u8]) -> u64 {
    // Branch-free and counted in bytes per chunk, so that it vectorizes: a byte at a time
    // with `matches!` cost a third of the payload's whole parse.
    text.chunks(255)
        .map(|chunk| {
            let n = chunk.iter().fold(0u8, |n, &b| {
                let space = (b == b' ') | (b.wrapping_sub(b'\t') < 5);
                let lead = (b == 0xC2) | (b.wrapping_sub(0xE1) < 3) | (b == b'\\');
                n + u8::from(space | lead)
            });
            u64::from(n)
        })
        .sum()
}

/// What one pass keeps track of.
struct Ctx {
    /// [`weight_of`] of everything read so far.
    weight: u64,
    /// Values that may still be built in the member being read.
    budget: usize,
}

impl Ctx {
    fn unbounded() -> Self {
        Self {
            weight: 0,
            budget: usize::MAX,
        }
    }

    /// Whether the value about to be read is built: asked and within the budget.
    fn take(&mut self, build: bool) -> bool {
        if build && self.budget > 0 {
            self.budget -= 1;
            true
        } else {
            false
        }
    }
}

/// The names of one object so far: a scan while few, a set beyond (an object of thousands of
/// names costs linear time, not quadratic).
pub(crate) struct Seen<'de> {
    few: Vec<Name<'de>>,
    many: Option<HashSet<Name<'de>>>,
}

impl<'de> Seen<'de> {
    pub(crate) fn new() -> Self {
        Self {
            few: Vec::new(),
            many: None,
        }
    }

    /// Records `name`; `false` when it was there already.
    pub(crate) fn insert(&mut self, name: &Name<'de>) -> bool {
        if let Some(many) = &mut self.many {
            return many.insert(name.clone());
        }
        if self.few.contains(name) {
            return false;
        }
        if self.few.capacity() == 0 {
            // Room for all the names a scan handles, at once (not regrown at 4 and 8).
            self.few.reserve_exact(17);
        }
        self.few.push(name.clone());
        if self.few.len() > 16 {
            self.many = Some(self.few.drain(..).collect());
        }
        true
    }
}

/// The top-level object of a payload, member by member.
struct TopLevel<'c> {
    ctx: &'c mut Ctx,
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Vec<(String, Option<Value>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object without duplicate member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        // Room for a typical claim set at once; no hashing (a scan finds a claim faster).
        let mut members: Self::Value = Vec::with_capacity(12);
        let mut seen = Seen::new();
        // The claims' own record (reference counts, key id, algorithm, ...).
        self.ctx.weight += 512;
        while let Some(name) = access.next_key::<Name<'de>>()? {
            if !seen.insert(&name) {
                return Err(de::Error::custom("duplicate member name"));
            }
            // The name twice: in the members and in the whole map built on first use.
            self.ctx.weight += 2 * bytes_weight(name.len());
            self.ctx.budget = EAGER_VALUES;
            let before = self.ctx.weight;
            let value = access.next_value_seed(Walk {
                ctx: self.ctx,
                build: true,
            })?;
            if value.is_some() {
                // Built now, and again in the whole map once anyone asks for that.
                self.ctx.weight += self.ctx.weight - before;
            }
            members.push((name.0.into_owned(), value));
        }
        let slots = members.len().max(6) as u64 * 2;
        self.ctx.weight += object_weight(members.len())
            + slots * (std::mem::size_of::<(String, Option<Value>)>() as u64)
            + ALLOCATION;
        Ok(members)
    }
}

/// Any JSON value, checked strictly (see the module's documentation) and not kept.
pub(crate) struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut ctx = Ctx::unbounded();
        Walk {
            ctx: &mut ctx,
            build: false,
        }
        .deserialize(deserializer)?;
        Ok(Strict)
    }
}

/// A member name, borrowed from the input where it has no escapes. Two names are equal when
/// their unescaped text is.
#[derive(PartialEq, Eq, Hash, Clone)]
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

/// One value, read strictly: built when `build` asks and the budget allows (`None` otherwise:
/// it was only validated and weighed).
struct Walk<'c> {
    ctx: &'c mut Ctx,
    build: bool,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Walk<'_> {
    /// A scalar: weighed, and built if asked.
    fn scalar(self, extra: u64, value: impl FnOnce() -> Value) -> Option<Value> {
        self.ctx.weight += extra;
        self.ctx.take(self.build).then(value)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate member names")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.scalar(0, || Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.scalar(0, || Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.scalar(0, || Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self.scalar(0, || {
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
        }))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.scalar(string_weight(v), || Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(self.scalar(string_weight(&v), || Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.scalar(0, || Value::Null))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(self.scalar(0, || Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut building = self.ctx.take(self.build);
        let mut items = Vec::new();
        let mut n = 0;
        while let Some(item) = seq.next_element_seed(Walk {
            ctx: self.ctx,
            build: building,
        })? {
            n += 1;
            match item {
                Some(item) => items.push(item),
                // Too large to build after all: validated from here on, built on first use.
                None if building => (building, items) = (false, Vec::new()),
                None => {}
            }
        }
        self.ctx.weight += array_weight(n);
        Ok(building.then_some(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut building = self.ctx.take(self.build);
        let mut map = Map::new();
        let mut seen = Seen::new();
        let mut n = 0;
        while let Some(name) = access.next_key::<Name<'de>>()? {
            if !seen.insert(&name) {
                return Err(de::Error::custom("duplicate member name"));
            }
            n += 1;
            self.ctx.weight += bytes_weight(name.len());
            let value = access.next_value_seed(Walk {
                ctx: self.ctx,
                build: building,
            })?;
            match value {
                Some(value) => {
                    map.insert(name.0.into_owned(), value);
                }
                None if building => (building, map) = (false, Map::new()),
                None => {}
            }
        }
        self.ctx.weight += object_weight(n);
        Ok(building.then_some(Value::Object(map)))
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

    /// A large member (too large to build in the pass) holding `inner` at its end.
    fn large_with(inner: &str) -> String {
        let filler: Vec<String> = (0..super::EAGER_VALUES + 8)
            .map(|i| i.to_string())
            .collect();
        format!(
            r#"{{"sub":"u","big":[{},{inner}],"exp":1}}"#,
            filler.join(",")
        )
    }

    #[test]
    fn large_members_are_read_as_strictly_as_small_ones() {
        use super::Payload;
        let parse = |text: &str| Payload::parse(text.as_bytes().to_vec()).ok();
        for inner in [
            r#"{"k":1,"k":2}"#,
            r#"{"sub":"a","\u0073ub":"b"}"#,
            r#"[{"x":{"r":[],"r":[]}}]"#,
            "tru",
            r#""\ud800""#,
        ] {
            assert!(parse(&large_with(inner)).is_none(), "{inner}");
        }
        // A duplicate among many names (beyond the scan, in the set) is caught too.
        let names: Vec<String> = (0..40).map(|i| format!(r#""n{i}":{i}"#)).collect();
        let many = format!(r#"{{"o":{{{}}},"z":1}}"#, names.join(","));
        assert!(parse(&many).is_some());
        let twice = many.replace(r#""n39":39"#, r#""n3":39"#);
        assert!(parse(&twice).is_none());
        let top = format!(r#"{{{},"n0":1}}"#, names.join(","));
        assert!(parse(&top).is_none());
        // A top-level name twice, whether each was built or deferred.
        let big: Vec<String> = (0..super::EAGER_VALUES + 8)
            .map(|i| i.to_string())
            .collect();
        let big = format!("[{}]", big.join(","));
        for (first, second) in [("1", "2"), (&*big, "1"), ("1", &*big), (&*big, &*big)] {
            let text = format!(r#"{{"a":{first},"b":0,"\u0061":{second}}}"#);
            assert!(parse(&text).is_none(), "{text}");
        }
        // Text that is not UTF-8, anywhere.
        let text = large_with(r#""xyz""#);
        let mut bytes = text.clone().into_bytes();
        bytes[text.find("xyz").unwrap_or_default() + 1] = 0xFF;
        assert!(Payload::parse(bytes).is_err());
        assert!(super::object_without_duplicates(b"{\"a\":\"\xff\"}").is_none());
        // Every one of these fails as a whole-map parse would, and nothing else does.
        assert!(parse(&large_with(r#"{"k":1}"#)).is_some());
    }

    #[test]
    fn large_members_are_built_on_first_use_and_equal_a_full_parse() {
        use super::Payload;
        let text = large_with(r#"{"k":[1,2,{"deep":"\u00e9"}]}"#);
        let payload = Payload::parse(text.clone().into_bytes()).expect("valid");
        let plain: serde_json::Value = serde_json::from_str(&text).expect("valid");
        // Small members were built in the pass; the large one is built when asked for.
        assert!(payload
            .members
            .iter()
            .any(|(k, v)| k == "sub" && v.is_some()));
        assert!(payload
            .members
            .iter()
            .any(|(k, v)| k == "big" && v.is_none()));
        assert!(payload.full.get().is_none());
        assert_eq!(payload.member("sub"), plain.get("sub"));
        assert_eq!(payload.member("exp"), plain.get("exp"));
        assert!(
            payload.full.get().is_none(),
            "small members need no full parse"
        );
        assert_eq!(payload.member("big"), plain.get("big"));
        assert_eq!(payload.member("absent"), None);
        assert_eq!(Some(payload.full()), plain.as_object());
        // The whole map keeps the members' order.
        let small = r#"{"z":1,"a":[1,2],"m":{"k":"v"}}"#;
        let payload = Payload::parse(small.as_bytes().to_vec()).expect("valid");
        let keys: Vec<&str> = payload.full().keys().map(String::as_str).collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn a_payload_weighs_at_least_its_text_its_full_tree_and_its_built_members() {
        use super::{bytes_weight, map_weight, weight_of, Payload};
        for text in [
            large_with(r#"{"k":"a b c"}"#),
            r#"{"scope":"read write","roles":["a"],"n":null,"x":{"y":[true,1.5]}}"#.to_owned(),
            r#"{ "scope" : "a b\tc\u3000d" , "n" : [ 1 ] }"#.to_owned(),
            "{}".to_owned(),
        ] {
            let payload = Payload::parse(text.clone().into_bytes()).expect("valid");
            // The members built in the pass count again: the whole map is built apart.
            let built: u64 = payload
                .members
                .iter()
                .filter_map(|(k, v)| Some(bytes_weight(k.len()) + weight_of(v.as_ref()?)))
                .sum();
            let least = text.len() as u64 + 512 + map_weight(payload.full()) + built;
            assert!(
                payload.weight() >= least,
                "{text}: {} < {least}",
                payload.weight()
            );
        }
        // Escaped whitespace splits a scope as plain whitespace does: weighed alike.
        let plain = Payload::parse(br#"{"scope":"a b c d"}"#.to_vec()).expect("valid");
        let escaped = Payload::parse(br#"{"scope":"a\tb\u0020c\u3000d"}"#.to_vec()).expect("valid");
        assert!(escaped.weight() >= plain.weight());
        // Every word a scope string can be split into is counted.
        for s in [
            "a b",
            "a\tb",
            "a\u{a0}b",
            "a\u{3000}b",
            "a\u{2028}b",
            "a\u{85}b",
        ] {
            let words = s.split_whitespace().count() as u64;
            assert_eq!(words, 2, "{s:?}");
            assert!(
                weight_of(&serde_json::Value::String(s.into()))
                    >= 2 * s.len() as u64 + words * super::AUTHORITY,
                "{s:?}"
            );
        }
    }

    #[test]
    fn separators_are_every_byte_that_may_begin_whitespace() {
        let all: Vec<u8> = (0..=255).collect();
        let starts = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .map(|c| c.to_string().as_bytes()[0]);
        for b in starts {
            assert!(super::separators(&[b]) == 1, "{b:#x}");
        }
        assert_eq!(super::separators(&all), 11);
        assert_eq!(super::separators(br"\t"), 1);
        assert_eq!(super::separators(&[b' '; 1000]), 1000);
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
