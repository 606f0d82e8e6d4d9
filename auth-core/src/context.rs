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

/// What a gate installs around a handler: the caller, and whether requirements are enforced
/// (`false` only when authentication is disabled in the configuration).
#[derive(Clone)]
struct Current {
    claims: Option<TokenClaims>,
    enforcing: bool,
    /// Where the caller's token came from (`None`: not known, e.g. a scope opened by hand).
    source: Option<crate::TokenSource>,
}

tokio::task_local! {
    static CURRENT: Current;
}

fn current(claims: Option<TokenClaims>) -> Current {
    Current {
        claims,
        enforcing: true,
        source: None,
    }
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
        CURRENT.scope(current(claims.into()), future)
    }

    /// Runs `future` with `claims` as the current caller, whose token came from `source`;
    /// `enforcing: false` is a gate with authentication disabled ([`enforce`](Self::enforce)
    /// lets every requirement pass).
    pub(crate) fn scope_as<F: Future>(
        claims: Option<TokenClaims>,
        source: Option<crate::TokenSource>,
        enforcing: bool,
        future: F,
    ) -> impl Future<Output = F::Output> {
        CURRENT.scope(
            Current {
                claims,
                enforcing,
                source,
            },
            future,
        )
    }

    /// Where the current caller's token came from (`None` outside a gate's scope).
    pub fn token_source() -> Option<crate::TokenSource> {
        CURRENT.try_with(|c| c.source).ok().flatten()
    }

    /// Runs the blocking closure `f` with `claims` as the current caller.
    pub fn sync_scope<R>(claims: impl Into<Option<TokenClaims>>, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(current(claims.into()), f)
    }

    /// Wraps `future` so that it runs with the caller current *now*: use it for
    /// `tokio::spawn(SecurityContext::carry(async { ... }))`.
    pub fn carry<F: Future>(future: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(Self::installed().unwrap_or_else(|| current(None)), future)
    }

    /// Wraps a closure so that it runs with the caller current *now*: use it for
    /// `tokio::task::spawn_blocking(SecurityContext::bind(|| ...))`.
    pub fn bind<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
        let installed = Self::installed().unwrap_or_else(|| current(None));
        move || CURRENT.sync_scope(installed, f)
    }

    fn installed() -> Option<Current> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Whether a gate (an adapter's layer or middleware, or [`scope`](Self::scope)) has
    /// installed a context here, anonymous or not.
    pub fn is_installed() -> bool {
        CURRENT.try_with(|_| ()).is_ok()
    }

    /// Whether requirements are enforced for the current request: `false` only where a gate
    /// installed the context of an application whose authentication is disabled.
    pub fn enforcing() -> bool {
        CURRENT.try_with(|c| c.enforcing).unwrap_or(true)
    }

    /// What a route marker runs before its handler: checks `requirement` against the caller a
    /// gate installed. [`AuthError::NotEnforced`] (500) when no gate ran at all, so that a
    /// route declared with a requirement never runs unchecked because the application was
    /// assembled without its gate; every requirement passes when authentication is disabled.
    ///
    /// Refusals are logged (outcome, reason, `sub`, `kid`); [`AuthError::NotEnforced`] is
    /// logged as an error that names the fix.
    pub fn enforce(requirement: &Requirement) -> Result<(), AuthError> {
        if requirement.allows_anonymous() {
            return Ok(());
        }
        let result = match CURRENT.try_with(|c| c.enforcing) {
            Err(_) => Err(AuthError::NotEnforced),
            Ok(false) => Ok(()),
            Ok(true) => Self::check(requirement),
        };
        result.inspect_err(|e| {
            crate::authenticator::count_decision(
                if e.status() == 500 {
                    "misconfigured"
                } else {
                    "denied"
                },
                e.reason(),
            );
            Self::log_denial(e);
        })
    }

    fn log_denial(e: &AuthError) {
        match e {
            AuthError::NotEnforced => tracing::error!(
                outcome = "denied",
                reason = e.reason(),
                "a route declared with a requirement ran with no portcullis gate in front of it; \
                 the request is refused. Put the gate around this route (axum: \
                 `.layer(gate.layer())` below the route; actix-web: the route inside \
                 `gate.protected()`; warp: the route in the protected tree of `gate.protect(..)`)"
            ),
            _ => Self::with(|user| {
                tracing::info!(
                    outcome = "denied",
                    reason = e.reason(),
                    sub = user.and_then(TokenClaims::sub),
                    kid = user.and_then(TokenClaims::key_id),
                    "request denied"
                );
            }),
        }
    }

    /// Calls `f` with the current caller.
    pub fn with<R>(f: impl FnOnce(Option<&TokenClaims>) -> R) -> R {
        f(Self::get().as_ref())
    }

    /// The current caller, if any.
    pub fn get() -> Option<TokenClaims> {
        CURRENT.try_with(|c| c.claims.clone()).ok().flatten()
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
            (r, Some(c)) => match (crate::AgentContext::get(), r.needs_agent()) {
                (None, true) => match crate::agent::agent_error() {
                    // The agent header was sent but did not verify: say so, not "missing".
                    Some(e) => Err(e),
                    None => r.check_from(Some(c), None, Self::token_source()),
                },
                (agent, _) => r.check_from(Some(c), agent.as_ref(), Self::token_source()),
            },
        })
    }
}
