//! Agent identity: a second token, in `X-Agent-Authorization: Bearer ...`, that says what an
//! automated agent acting for the caller may do (pico-client-auth's `@requires_scope`).
//!
//! The agent token is verified exactly like the caller's token. Its scopes are checked with
//! the `:`-segment wildcard rule of [`scope_matches`](crate::scope_matches). Routes without
//! an agent-scope requirement ignore the header.

use crate::claims::TokenClaims;
use crate::error::AuthError;
use crate::policy::any_scope_matches;
use serde_json::Value;
use std::future::Future;

/// The request header that carries the agent token.
pub const AGENT_AUTHORIZATION: &str = "x-agent-authorization";

/// The verified claims of an agent token. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AgentClaims {
    claims: TokenClaims,
    scopes: Vec<String>,
}

impl AgentClaims {
    /// Agent claims from verified token claims: scopes from the `scopes` array claim, or, when
    /// it is absent, the token's resolved scopes (`scope` / `scp`).
    pub fn new(claims: TokenClaims) -> Self {
        let scopes = match claims.member("scopes") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => claims.scopes().to_vec(),
        };
        Self { claims, scopes }
    }

    fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.member(name).and_then(Value::as_str)
    }

    /// `sub`: the agent.
    pub fn sub(&self) -> Option<&str> {
        self.claims.sub()
    }
    /// `task_type`.
    pub fn task_type(&self) -> Option<&str> {
        self.str_claim("task_type")
    }
    /// `user_id`: the user the agent acts for.
    pub fn user_id(&self) -> Option<&str> {
        self.str_claim("user_id")
    }
    /// `session_id`.
    pub fn session_id(&self) -> Option<&str> {
        self.str_claim("session_id")
    }
    /// `conversation_id`.
    pub fn conversation_id(&self) -> Option<&str> {
        self.str_claim("conversation_id")
    }
    /// `task_id`.
    pub fn task_id(&self) -> Option<&str> {
        self.str_claim("task_id")
    }
    /// `org_id`.
    pub fn org_id(&self) -> Option<&str> {
        self.str_claim("org_id")
    }
    /// `role`.
    pub fn role(&self) -> Option<&str> {
        self.str_claim("role")
    }
    /// `spend_limit`.
    pub fn spend_limit(&self) -> Option<f64> {
        self.claims.member("spend_limit").and_then(Value::as_f64)
    }
    /// Granted scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// `parent_chain`: the agents this one was delegated from.
    pub fn parent_chain(&self) -> Vec<String> {
        self.claims.claim("parent_chain").unwrap_or_default()
    }
    /// Whether a granted scope satisfies `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        any_scope_matches(&self.scopes, &[scope])
    }
    /// The underlying verified claims (every raw claim included).
    pub fn claims(&self) -> &TokenClaims {
        &self.claims
    }
}

/// The agent slot of a request: the verified agent, or why the agent header sent did not
/// verify (a route asking for an agent answers with that error instead of "missing").
#[derive(Clone, Default)]
struct AgentSlot {
    agent: Option<AgentClaims>,
    error: Option<AuthError>,
}

impl From<Option<AgentClaims>> for AgentSlot {
    fn from(agent: Option<AgentClaims>) -> Self {
        Self { agent, error: None }
    }
}

tokio::task_local! {
    static AGENT: AgentSlot;
}

/// Why the agent header of the current request did not verify, if it was sent and did not.
pub(crate) fn agent_error() -> Option<AuthError> {
    AGENT.try_with(|s| s.error.clone()).ok().flatten()
}

/// The current request's agent, task-local like [`SecurityContext`](crate::SecurityContext).
#[derive(Debug, Clone, Copy)]
pub struct AgentContext;

impl AgentContext {
    /// Runs `future` with `agent` as the current agent.
    pub fn scope<F: Future>(
        agent: Option<AgentClaims>,
        future: F,
    ) -> impl Future<Output = F::Output> {
        AGENT.scope(agent.into(), future)
    }
    /// Runs the blocking closure `f` with `agent` as the current agent.
    pub fn sync_scope<R>(agent: Option<AgentClaims>, f: impl FnOnce() -> R) -> R {
        AGENT.sync_scope(agent.into(), f)
    }
    /// Wraps `future` so that it runs with the agent current now (for `tokio::spawn`).
    pub fn carry<F: Future>(future: F) -> impl Future<Output = F::Output> {
        AGENT.scope(AGENT.try_with(Clone::clone).unwrap_or_default(), future)
    }
    /// The current agent, if any.
    pub fn get() -> Option<AgentClaims> {
        AGENT.try_with(|s| s.agent.clone()).ok().flatten()
    }
    /// The current agent, or 401: [`AuthError::InvalidAgentToken`] when an agent token was
    /// sent and did not verify, [`AuthError::MissingAgentToken`] when none was sent.
    pub fn require() -> Result<AgentClaims, AuthError> {
        Self::get().ok_or_else(|| agent_error().unwrap_or(AuthError::MissingAgentToken))
    }
    /// The current agent's scopes.
    pub fn scopes() -> Vec<String> {
        Self::get().map(|a| a.scopes).unwrap_or_default()
    }
    /// Whether the current agent has a scope satisfying `scope`.
    pub fn has_scope(scope: &str) -> bool {
        Self::get().is_some_and(|a| a.has_scope(scope))
    }
    /// Requires one of `scopes` of the current agent (401 without an agent, 403 without the
    /// scope).
    pub fn require_scope<I: IntoIterator<Item = S>, S: AsRef<str>>(
        scopes: I,
    ) -> Result<(), AuthError> {
        let mut required: Vec<String> = scopes.into_iter().map(|s| s.as_ref().to_owned()).collect();
        required.sort();
        required.dedup();
        let agent = Self::require()?;
        if any_scope_matches(agent.scopes(), &required) {
            Ok(())
        } else {
            Err(AuthError::InsufficientAgentScope { required })
        }
    }
}

/// Who is calling: the user (or service) of `Authorization`, and the agent of
/// `X-Agent-Authorization`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Caller {
    /// The verified caller (`None`: anonymous).
    pub user: Option<TokenClaims>,
    /// The verified agent (`None`: none asked for, none sent, or it did not verify).
    pub agent: Option<AgentClaims>,
    agent_error: Option<AuthError>,
    disabled: bool,
    source: Option<crate::TokenSource>,
}

impl Caller {
    /// A caller from its parts.
    pub fn new(user: Option<TokenClaims>, agent: Option<AgentClaims>) -> Self {
        Self {
            user,
            agent,
            agent_error: None,
            disabled: false,
            source: None,
        }
    }

    /// Where the caller's token came from (`None`: anonymous, or not known).
    pub fn source(&self) -> Option<crate::TokenSource> {
        self.source
    }

    /// Records where the caller's token came from.
    pub(crate) fn with_source(mut self, source: crate::TokenSource) -> Self {
        self.source = Some(source);
        self
    }

    /// The caller of an application whose authentication is disabled: anonymous, and every
    /// requirement passes.
    pub(crate) fn disabled() -> Self {
        Self {
            disabled: true,
            ..Self::default()
        }
    }

    /// Records why the agent header that was sent did not verify.
    pub(crate) fn with_agent_error(mut self, error: AuthError) -> Self {
        self.agent_error = Some(error);
        self
    }

    /// Runs `future` with this caller in the [`SecurityContext`](crate::SecurityContext) and
    /// [`AgentContext`]: what adapters do around every handler.
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        let slot = AgentSlot {
            agent: self.agent,
            error: self.agent_error,
        };
        // Two task-local scopes nested, no async block around them: `future` is held once
        // (an adapter's future per request is this one, allocated and moved as a whole).
        let (user, source) = if self.disabled {
            (None, None)
        } else {
            (self.user, self.source)
        };
        crate::SecurityContext::scope_as(user, source, !self.disabled, AGENT.scope(slot, future))
    }
}
