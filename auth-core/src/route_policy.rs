//! Per-route requirements, keyed by the route pattern the *framework* matched.
//!
//! The core never re-implements an HTTP router: a router of its own could disagree with the
//! framework's (percent-decoding, precedence, guards) and open a route. Adapters look the
//! requirement up with the pattern their framework reports after routing (axum's
//! `MatchedPath`, actix-web's `match_pattern()`); a request that matched no known pattern
//! gets the default, [`Requirement::Authenticated`].

use crate::policy::Requirement;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Route pattern → requirement, with [`Requirement::Authenticated`] for everything else.
#[derive(Debug, Clone)]
pub struct RoutePolicy {
    routes: HashMap<String, Rules>,
    default: Arc<Requirement>,
}

#[derive(Debug, Clone, Default)]
struct Rules {
    any_method: Option<Arc<Requirement>>,
    by_method: Vec<(String, Arc<Requirement>)>,
}

impl Default for RoutePolicy {
    fn default() -> Self {
        Self::new()
    }
}

fn combine(slot: &mut Option<Arc<Requirement>>, requirement: Requirement) {
    let combined = match slot.take() {
        // Declaring a route twice can only add protection.
        Some(existing) => (*existing).clone().and(requirement),
        None => requirement,
    };
    *slot = Some(Arc::new(combined));
}

impl RoutePolicy {
    /// An empty policy: every route requires authentication.
    pub fn new() -> Self {
        Self {
            routes: HashMap::new(),
            default: Arc::new(Requirement::Authenticated),
        }
    }

    /// Sets the requirement of `pattern` for every method. Declaring the same pattern again
    /// ANDs the requirements.
    pub fn add(&mut self, pattern: &str, requirement: Requirement) {
        combine(
            &mut self
                .routes
                .entry(pattern.to_owned())
                .or_default()
                .any_method,
            requirement,
        );
    }

    /// Sets the requirement of `pattern` for one method (it takes precedence over the
    /// any-method requirement of the same pattern).
    pub fn add_for_method(&mut self, method: &str, pattern: &str, requirement: Requirement) {
        let rules = self.routes.entry(pattern.to_owned()).or_default();
        let method = method.to_ascii_uppercase();
        match rules.by_method.iter_mut().find(|(m, _)| *m == method) {
            Some((_, existing)) => *existing = Arc::new((**existing).clone().and(requirement)),
            None => rules.by_method.push((method, Arc::new(requirement))),
        }
    }

    /// The requirement of a request that the framework routed to `pattern` (`None`: no route
    /// matched). Unknown patterns get [`Requirement::Authenticated`].
    pub fn requirement(&self, method: &str, pattern: Option<&str>) -> &Arc<Requirement> {
        let Some(rules) = pattern.and_then(|p| self.routes.get(p)) else {
            return &self.default;
        };
        rules
            .by_method
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, r)| r)
            .or(rules.any_method.as_ref())
            .unwrap_or(&self.default)
    }

    /// The declared patterns (to check them against the application's routes in a test).
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }
}

/// The requirements an application declares next to its routes, while it builds them.
/// Clones (and [`nested`](Self::nested) handles) share one table; adapters take a
/// [`snapshot`](Self::snapshot) when they install their middleware.
#[derive(Debug, Clone, Default)]
pub struct DeclaredRoutes {
    table: Arc<Mutex<RoutePolicy>>,
    prefix: String,
}

impl DeclaredRoutes {
    /// An empty table: every route requires authentication.
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle that records paths under `prefix` (for a router nested at `prefix`).
    pub fn nested(&self, prefix: &str) -> Self {
        Self {
            table: Arc::clone(&self.table),
            prefix: format!("{}{}", self.prefix, prefix.trim_end_matches('/')),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut RoutePolicy) -> R) -> R {
        f(&mut self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Declares `requirement` for `path` (every method).
    pub fn declare(&self, path: &str, requirement: Requirement) {
        let full = format!("{}{path}", self.prefix);
        self.with(|t| t.add(&full, requirement));
    }

    /// Declares `requirement` for `method` on `path`.
    pub fn declare_method(&self, method: &str, path: &str, requirement: Requirement) {
        let full = format!("{}{path}", self.prefix);
        self.with(|t| t.add_for_method(method, &full, requirement));
    }

    /// The table as declared so far.
    pub fn snapshot(&self) -> RoutePolicy {
        self.with(|t| t.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_unmatched_routes_require_authentication() {
        let p = RoutePolicy::new();
        assert_eq!(
            **p.requirement("GET", Some("/x")),
            Requirement::Authenticated
        );
        assert_eq!(**p.requirement("GET", None), Requirement::Authenticated);
    }

    #[test]
    fn exact_pattern_and_method_precedence() {
        let mut p = RoutePolicy::new();
        p.add("/items", Requirement::Anonymous);
        p.add_for_method("post", "/items", Requirement::any_role(["writer"]));
        assert_eq!(
            **p.requirement("GET", Some("/items")),
            Requirement::Anonymous
        );
        assert_eq!(
            **p.requirement("POST", Some("/items")),
            Requirement::any_role(["writer"])
        );
        // No prefix or pattern matching of its own.
        assert_eq!(
            **p.requirement("GET", Some("/items/")),
            Requirement::Authenticated
        );
        assert_eq!(
            **p.requirement("GET", Some("/ITEMS")),
            Requirement::Authenticated
        );
    }

    #[test]
    fn nested_handles_share_the_table_and_prefix_paths() {
        let routes = DeclaredRoutes::new();
        routes
            .nested("/api/")
            .declare("/health", Requirement::Anonymous);
        routes
            .nested("/api")
            .nested("/v1")
            .declare_method("GET", "/items", Requirement::Anonymous);
        let p = routes.snapshot();
        assert_eq!(
            **p.requirement("GET", Some("/api/health")),
            Requirement::Anonymous
        );
        assert_eq!(
            **p.requirement("GET", Some("/api/v1/items")),
            Requirement::Anonymous
        );
        assert_eq!(
            **p.requirement("POST", Some("/api/v1/items")),
            Requirement::Authenticated
        );
    }

    #[test]
    fn declaring_twice_only_adds_protection() {
        let mut p = RoutePolicy::new();
        p.add("/a", Requirement::Anonymous);
        p.add("/a", Requirement::any_role(["admin"]));
        assert_eq!(
            **p.requirement("GET", Some("/a")),
            Requirement::any_role(["admin"])
        );
        p.add("/a", Requirement::any_group(["g"]));
        assert!(matches!(
            **p.requirement("GET", Some("/a")),
            Requirement::All(_)
        ));
    }
}
