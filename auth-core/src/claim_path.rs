//! Dotted paths into a token's claims, such as `realm_access.roles`.

use serde_json::{Map, Value};
use std::fmt;

/// A path to a claim: `roles`, `realm_access.roles`, `resource_access.my-api.roles`.
///
/// Lookup first tries the whole path as one top-level claim name, so namespaced claims
/// whose names contain dots (`https://example.com/roles`) work as written; otherwise the path
/// is split on `.` and followed through nested objects.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    raw: String,
    segments: Vec<String>,
}

/// A claim path is empty or has an empty segment (`a..b`, `.a`, `a.`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a claim path must be non-empty dot-separated names, like `realm_access.roles`")]
pub struct InvalidClaimPath;

impl ClaimPath {
    /// Parses a dotted path.
    pub fn new(path: &str) -> Result<Self, InvalidClaimPath> {
        let trimmed = path.trim();
        if trimmed.is_empty() || trimmed.split('.').any(str::is_empty) {
            return Err(InvalidClaimPath);
        }
        Ok(Self {
            raw: trimmed.to_owned(),
            segments: trimmed.split('.').map(str::to_owned).collect(),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The value at this path, if any.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        if let Some(v) = claims.get(&self.raw) {
            return Some(v);
        }
        let (first, rest) = self.segments.split_first()?;
        let mut current = claims.get(first)?;
        for segment in rest {
            current = current.as_object()?.get(segment)?;
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
    fn non_object_in_the_middle_is_absent() {
        let claims = obj(json!({"a": "string"}));
        let p = ClaimPath::new("a.b").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.lookup(&claims), None);
    }
}
