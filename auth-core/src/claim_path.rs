//! Dotted paths into a token's claims, such as `realm_access.roles`.

use serde_json::{Map, Value};
use std::fmt;

/// A path to a claim: `roles`, `realm_access.roles`, `resource_access.my-api.roles`,
/// `cognito:groups`.
///
/// Segments are separated by `.`; a segment that contains a dot is written in double quotes,
/// as Keycloak client ids often need: `resource_access."orders.api".roles` (inside quotes,
/// `\"` is a quote and `\\` a backslash). Lookup of an unquoted path first tries the whole
/// path as one top-level claim name, so namespaced claims whose names contain dots
/// (`https://example.com/roles`) work as written; otherwise the path is followed through
/// nested objects.
///
/// ```
/// # use portcullis_core::ClaimPath;
/// let claims = serde_json::json!({"resource_access": {"orders.api": {"roles": ["clerk"]}}});
/// let path = ClaimPath::new(r#"resource_access."orders.api".roles"#).unwrap();
/// assert_eq!(path.lookup(claims.as_object().unwrap()), Some(&serde_json::json!(["clerk"])));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    raw: String,
    segments: Vec<String>,
    quoted: bool,
}

/// A claim path is empty, has an empty segment (`a..b`, `.a`, `a.`), or an unterminated or
/// misplaced quote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a claim path must be non-empty dot-separated names, like `realm_access.roles` (quote a name that contains dots: `resource_access.\"my.client\".roles`)"
)]
pub struct InvalidClaimPath;

/// Splits a path into its segments, honouring double-quoted ones.
fn segments(path: &str) -> Result<Vec<String>, InvalidClaimPath> {
    let mut out = Vec::new();
    let mut chars = path.chars().peekable();
    loop {
        let mut segment = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next().ok_or(InvalidClaimPath)? {
                    '"' => break,
                    '\\' => segment.push(chars.next().ok_or(InvalidClaimPath)?),
                    c => segment.push(c),
                }
            }
            if segment.is_empty() || !matches!(chars.peek(), None | Some('.')) {
                return Err(InvalidClaimPath);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if c == '"' {
                    return Err(InvalidClaimPath);
                }
                segment.push(c);
                chars.next();
            }
            if segment.is_empty() {
                return Err(InvalidClaimPath);
            }
        }
        out.push(segment);
        match chars.next() {
            None => return Ok(out),
            Some(_dot) => {}
        }
    }
}

impl ClaimPath {
    /// Parses a dotted path.
    pub fn new(path: &str) -> Result<Self, InvalidClaimPath> {
        let trimmed = path.trim();
        Ok(Self {
            raw: trimmed.to_owned(),
            segments: segments(trimmed)?,
            quoted: trimmed.contains('"'),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The value at this path, if any.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        self.lookup_with(|name| crate::strict_json::member(claims, name))
    }

    /// The value at this path, `top` giving each top-level claim.
    pub(crate) fn lookup_with<'a>(
        &self,
        top: impl Fn(&str) -> Option<&'a Value>,
    ) -> Option<&'a Value> {
        use crate::strict_json::member;
        if !self.quoted {
            if let Some(v) = top(&self.raw) {
                return Some(v);
            }
            if self.segments.len() == 1 {
                return None;
            }
        }
        let (first, rest) = self.segments.split_first()?;
        let mut current = top(first)?;
        for segment in rest {
            current = member(current.as_object()?, segment)?;
        }
        Some(current)
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimPath({:?})", self.raw)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn follows_nested_objects() {
        let claims = obj(json!({
            "realm_access": {"roles": ["a", "b"]},
            "resource_access": {"my-api": {"roles": ["c"]}},
        }));
        let p = ClaimPath::new("realm_access.roles").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.lookup(&claims), Some(&json!(["a", "b"])));
        let p = ClaimPath::new("resource_access.my-api.roles").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.lookup(&claims), Some(&json!(["c"])));
        let p = ClaimPath::new("resource_access.other.roles").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.lookup(&claims), None);
    }

    #[test]
    fn whole_name_with_dots_wins() {
        let claims = obj(json!({"https://example.com/roles": ["x"]}));
        let p = ClaimPath::new("https://example.com/roles").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.lookup(&claims), Some(&json!(["x"])));
    }

    #[test]
    fn rejects_empty_segments() {
        for bad in ["", " ", "a..b", ".a", "a."] {
            assert_eq!(ClaimPath::new(bad), Err(InvalidClaimPath), "{bad:?}");
        }
    }

    #[test]
    fn quoted_segments_may_contain_dots_and_colons_need_no_quotes() {
        let claims = obj(json!({
            "resource_access": {"orders.api": {"roles": ["clerk"]}, "orders": {"api": {"roles": ["wrong"]}}},
            "cognito:groups": ["g1"],
            "a\"b": {"c": 1},
        }));
        let p = ClaimPath::new(r#"resource_access."orders.api".roles"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.lookup(&claims), Some(&json!(["clerk"])));
        let p = ClaimPath::new("cognito:groups").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.lookup(&claims), Some(&json!(["g1"])));
        let p = ClaimPath::new(r#""a\"b".c"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.lookup(&claims), Some(&json!(1)));
        for bad in [
            r#""unterminated"#,
            r#"a."b"c"#,
            r#"a"b"#,
            r#""""#,
            r#""a"b"#,
            "a.\"x",
        ] {
            assert_eq!(ClaimPath::new(bad), Err(InvalidClaimPath), "{bad:?}");
        }
    }

    #[test]
    fn non_object_in_the_middle_is_absent() {
        let claims = obj(json!({"a": "string"}));
        let p = ClaimPath::new("a.b").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.lookup(&claims), None);
    }
}
