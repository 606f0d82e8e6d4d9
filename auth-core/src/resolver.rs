//! Turning claims into roles, groups and scopes.

use crate::claim_path::ClaimPath;
use crate::config::AuthConfig;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// What a caller may do, as read from their token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authorities {
    /// Roles, without duplicates, in the order found.
    pub roles: Vec<String>,
    /// Groups, without duplicates, in the order found.
    pub groups: Vec<String>,
    /// Scopes, without duplicates, in the order found.
    pub scopes: Vec<String>,
}

impl Authorities {
    /// Authorities from explicit lists.
    pub fn new(roles: Vec<String>, groups: Vec<String>, scopes: Vec<String>) -> Self {
        Self {
            roles: dedup(roles),
            groups: dedup(groups),
            scopes: dedup(scopes),
        }
    }
}

/// Reads a caller's roles, groups and scopes from verified claims. Replace it to map roles
/// from anywhere (an in-memory table, another claim layout); wrap [`ClaimPathResolver`] to
/// extend the default.
///
/// ```
/// use serde_json::{Map, Value};
/// use portcullis_core::{Authorities, ClaimPathResolver, RoleResolver};
///
/// /// Default claim paths, plus `admin` for one well-known subject.
/// struct WithSuperUser(ClaimPathResolver);
///
/// impl RoleResolver for WithSuperUser {
///     fn resolve(&self, claims: &Map<String, Value>) -> Authorities {
///         let mut a = self.0.resolve(claims);
///         if claims.get("sub").and_then(Value::as_str) == Some("root") {
///             a.roles.push("admin".into());
///         }
///         a
///     }
/// }
/// ```
pub trait RoleResolver: Send + Sync + 'static {
    /// The caller's authorities.
    fn resolve(&self, claims: &Map<String, Value>) -> Authorities;

    /// The caller's authorities, from a verified token's claims. The default gives
    /// [`resolve`](Self::resolve) every claim ([`TokenClaims::raw`](crate::TokenClaims::raw));
    /// [`ClaimPathResolver`] reads only the claims its paths name.
    fn resolve_claims(&self, claims: &crate::TokenClaims) -> Authorities {
        self.resolve(claims.raw())
    }
}

/// The default resolver: roles, groups and scopes from configurable claim paths.
///
/// A claim that is an array contributes each of its string elements. A string claim is one
/// role or group, and a space-separated list of scopes (OAuth2 `scope`).
#[derive(Debug, Clone)]
pub struct ClaimPathResolver {
    roles: Vec<ClaimPath>,
    groups: Vec<ClaimPath>,
    scopes: Vec<ClaimPath>,
}

impl ClaimPathResolver {
    /// The paths of the configuration (`role_claims`, `group_claims`, `scope_claims`).
    pub fn from_config(config: &AuthConfig) -> Self {
        Self {
            roles: config.role_claims().to_vec(),
            groups: config.group_claims().to_vec(),
            scopes: config.scope_claims().to_vec(),
        }
    }

    /// Explicit paths.
    pub fn new(roles: Vec<ClaimPath>, groups: Vec<ClaimPath>, scopes: Vec<ClaimPath>) -> Self {
        Self {
            roles,
            groups,
            scopes,
        }
    }
}

impl Default for ClaimPathResolver {
    /// `roles` + `role`, `groups`, `scope` + `scp`.
    fn default() -> Self {
        let paths = |names: &[&str]| {
            names
                .iter()
                .filter_map(|n| ClaimPath::new(n).ok())
                .collect()
        };
        Self {
            roles: paths(&["roles", "role"]),
            groups: paths(&["groups"]),
            scopes: paths(&["scope", "scp"]),
        }
    }
}

impl RoleResolver for ClaimPathResolver {
    fn resolve(&self, claims: &Map<String, Value>) -> Authorities {
        let top = |name: &str| crate::strict_json::member(claims, name);
        Authorities {
            roles: collect(&self.roles, top, false),
            groups: collect(&self.groups, top, false),
            scopes: collect(&self.scopes, top, true),
        }
    }

    fn resolve_claims(&self, claims: &crate::TokenClaims) -> Authorities {
        // Only the claims the paths name: the others are never built.
        let top = |name: &str| claims.member(name);
        Authorities {
            roles: collect(&self.roles, top, false),
            groups: collect(&self.groups, top, false),
            scopes: collect(&self.scopes, top, true),
        }
    }
}

/// The strings at `paths`, deduplicated; `top` gives a top-level claim.
fn collect<'a>(
    paths: &[ClaimPath],
    top: impl Fn(&str) -> Option<&'a Value> + Copy,
    split_strings: bool,
) -> Vec<String> {
    // Deduplicated with a set: a token with thousands of roles costs linear time, not
    // quadratic.
    let mut found: Vec<&str> = Vec::new();
    for path in paths {
        match path.lookup_with(top) {
            Some(Value::Array(items)) => found.extend(items.iter().filter_map(Value::as_str)),
            Some(Value::String(s)) if split_strings => found.extend(s.split_whitespace()),
            Some(Value::String(s)) => found.push(s.trim()),
            _ => {}
        }
    }
    found.retain(|s| !s.is_empty());
    if found.len() <= SMALL {
        // A handful: a scan of what is kept so far beats hashing.
        let mut out: Vec<String> = Vec::with_capacity(found.len());
        for s in found {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
        return out;
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(found.len());
    found
        .into_iter()
        .filter(|s| seen.insert(s))
        .map(str::to_owned)
        .collect()
}

/// Up to this many values, deduplication scans instead of hashing (at most 120 comparisons).
const SMALL: usize = 16;

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen: HashSet<String> = HashSet::with_capacity(items.len());
    items
        .into_iter()
        .filter(|item| seen.insert(item.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(r: &ClaimPathResolver, v: Value) -> Authorities {
        r.resolve(v.as_object().unwrap_or(&Map::new()))
    }

    #[test]
    fn default_paths_read_arrays_strings_and_space_separated_scopes() {
        let a = resolve(
            &ClaimPathResolver::default(),
            json!({"roles": ["a", "b"], "role": "c", "groups": ["g"], "scope": "read write", "scp": ["admin", "read"]}),
        );
        assert_eq!(a.roles, ["a", "b", "c"]);
        assert_eq!(a.groups, ["g"]);
        assert_eq!(a.scopes, ["read", "write", "admin"]);
    }

    #[test]
    fn nested_paths() {
        let path = |s: &str| ClaimPath::new(s).unwrap_or_else(|e| panic!("{e}"));
        let r = ClaimPathResolver::new(
            vec![
                path("realm_access.roles"),
                path("resource_access.my-api.roles"),
            ],
            vec![],
            vec![],
        );
        let a = resolve(
            &r,
            json!({"realm_access": {"roles": ["user"]}, "resource_access": {"my-api": {"roles": ["admin", "user"]}}}),
        );
        assert_eq!(a.roles, ["user", "admin"]);
    }

    #[test]
    fn wrong_types_are_ignored() {
        let a = resolve(
            &ClaimPathResolver::default(),
            json!({"roles": 5, "groups": {"x": 1}, "scope": [1, "ok"]}),
        );
        assert!(a.roles.is_empty() && a.groups.is_empty());
        assert_eq!(a.scopes, ["ok"]);
    }
}
