//! The task-local `SecurityContext`: who the caller is, anywhere in the code that serves a
//! request, without passing it down.
//!
//! Adapters install it around the handler future. Code outside any scope sees an empty
//! context: there is no global default. A spawned task does not inherit it implicitly; carry
//! it explicitly with [`SecurityContext::carry`] (or [`SecurityContext::bind`] for blocking
//! closures), as `tracing` does with its subscriber.

use crate::claims::TokenClaims;
use crate::error::AuthError;
use crate::policy::Requirement;
use std::future::Future;

tokio::task_local! {
    static CURRENT: Option<TokenClaims>;
}

/// Accessors for the current caller. All functions are associated: there is nothing to
/// construct.
///
/// ```
/// use portcullis_core::{SecurityContext, TokenClaims};
///
/// /// A service deep in the call chain: no claims parameter needed.
/// fn profile() -> Result<String, portcullis_core::AuthError> {
///     let claims = SecurityContext::require()?;
///     Ok(format!("{} ({:?})", claims.sub().unwrap_or("?"), SecurityContext::roles()))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let caller = TokenClaims::from_json(serde_json::json!({"sub": "user-123", "roles": ["admin"]}));
/// let answer = SecurityContext::scope(caller, async { profile() }).await;
/// assert_eq!(answer.unwrap(), r#"user-123 (["admin"])"#);
/// // Outside a scope there is no caller.
/// assert!(SecurityContext::get().is_none());
/// assert_eq!(profile().unwrap_err().status(), 401);
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SecurityContext;

impl SecurityContext {
    /// Runs `future` with `claims` as the current caller (`None`: anonymous).
    pub fn scope<F: Future>(
        claims: impl Into<Option<TokenClaims>>,
        future: F,
    ) -> impl Future<Output = F::Output> {
        CURRENT.scope(claims.into(), future)
    }

    /// Runs the blocking closure `f` with `claims` as the current caller.
    pub fn sync_scope<R>(claims: impl Into<Option<TokenClaims>>, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(claims.into(), f)
    }

    /// Wraps `future` so that it runs with the caller current *now*: use it for
    /// `tokio::spawn(SecurityContext::carry(async { ... }))`.
    pub fn carry<F: Future>(future: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(Self::get(), future)
    }

    /// Wraps a closure so that it runs with the caller current *now*: use it for
    /// `tokio::task::spawn_blocking(SecurityContext::bind(|| ...))`.
    pub fn bind<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
        let claims = Self::get();
        move || CURRENT.sync_scope(claims, f)
    }

    /// Calls `f` with the current caller.
    pub fn with<R>(f: impl FnOnce(Option<&TokenClaims>) -> R) -> R {
        f(Self::get().as_ref())
    }

    /// The current caller, if any.
    pub fn get() -> Option<TokenClaims> {
        CURRENT.try_with(Clone::clone).ok().flatten()
    }

    /// The current caller, or [`AuthError::NotAuthenticated`] (401).
    pub fn require() -> Result<TokenClaims, AuthError> {
        Self::get().ok_or(AuthError::NotAuthenticated)
    }

    /// The current caller's roles (empty without a caller).
    pub fn roles() -> Vec<String> {
        Self::with(|c| c.map(|c| c.roles().to_vec()).unwrap_or_default())
    }

    /// Whether the current caller has `role`.
    pub fn has_role(role: &str) -> bool {
        Self::with(|c| c.is_some_and(|c| c.has_role(role)))
    }

    /// Requires one of `roles`: 403 [`AuthError::InsufficientRole`] if the caller has none of
    /// them, 401 [`AuthError::NotAuthenticated`] without a caller.
    pub fn require_role<I: IntoIterator<Item = S>, S: AsRef<str>>(
        roles: I,
    ) -> Result<(), AuthError> {
        Self::check(&Requirement::any_role(roles))
    }

    /// The current caller's groups.
    pub fn groups() -> Vec<String> {
        Self::with(|c| c.map(|c| c.groups().to_vec()).unwrap_or_default())
    }

    /// Whether the current caller is in `group`.
    pub fn has_group(group: &str) -> bool {
        Self::with(|c| c.is_some_and(|c| c.has_group(group)))
    }

    /// Requires one of `groups` (403 / 401 as for [`require_role`](Self::require_role)).
    pub fn require_group<I: IntoIterator<Item = S>, S: AsRef<str>>(
        groups: I,
    ) -> Result<(), AuthError> {
        Self::check(&Requirement::any_group(groups))
    }

    /// The current caller's scopes.
    pub fn scopes() -> Vec<String> {
        Self::with(|c| c.map(|c| c.scopes().to_vec()).unwrap_or_default())
    }

    /// Whether a scope of the current caller satisfies `scope` (wildcards apply).
    pub fn has_scope(scope: &str) -> bool {
        Self::with(|c| c.is_some_and(|c| c.has_scope(scope)))
    }

    /// Requires one of `scopes` (403 / 401 as for [`require_role`](Self::require_role)).
    pub fn require_scope<I: IntoIterator<Item = S>, S: AsRef<str>>(
        scopes: I,
    ) -> Result<(), AuthError> {
        Self::check(&Requirement::any_scope(scopes))
    }

    /// Checks any [`Requirement`] against the current caller.
    pub fn check(requirement: &Requirement) -> Result<(), AuthError> {
        Self::with(|c| match (requirement, c) {
            (Requirement::Anonymous, _) => Ok(()),
            (_, None) => Err(AuthError::NotAuthenticated),
            (r, Some(c)) => r.check_with_agent(Some(c), crate::AgentContext::get().as_ref()),
        })
    }
}
