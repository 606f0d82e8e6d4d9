//! Who may call what: [`Requirement`], evaluated by the core for every adapter.

use crate::agent::AgentClaims;
use crate::claims::TokenClaims;
use crate::error::AuthError;

/// What a route (or any operation) requires of its caller.
///
/// ```
/// use portcullis_core::{Requirement, TokenClaims};
/// let admin = TokenClaims::from_json(serde_json::json!({"sub": "u1", "roles": ["admin"]}));
/// let need = Requirement::any_role(["editor", "admin"]);
/// assert!(need.check(Some(&admin)).is_ok());
/// let err = Requirement::any_role(["auditor"]).check(Some(&admin)).unwrap_err();
/// assert_eq!(err.status(), 403);
/// assert_eq!(err.detail(), "Requires one of roles: ['auditor']");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// Anyone, with or without a token (optional authentication).
    Anonymous,
    /// Any authenticated caller. The default of every route.
    Authenticated,
    /// At least one of these roles (sorted).
    AnyRole(Vec<String>),
    /// Every one of these roles (sorted).
    AllRoles(Vec<String>),
    /// At least one of these groups (sorted).
    AnyGroup(Vec<String>),
    /// At least one of these scopes on the caller's token (sorted), with the wildcard rule of
    /// [`scope_matches`].
    AnyScope(Vec<String>),
    /// An agent token (`X-Agent-Authorization`) granting at least one of these scopes
    /// (sorted), with the wildcard rule of [`scope_matches`] (pico-client-auth's
    /// `@requires_scope`).
    AgentScope(Vec<String>),
    /// The token must have come in the `Authorization` header, not in a configured cookie,
    /// custom header or query parameter (e.g. a state-changing route of an application that
    /// also accepts a session cookie: no cross-site request can set `Authorization`).
    AuthorizationHeader,
    /// The caller's token must be DPoP-bound (RFC 9449), which the gate admits only with a
    /// valid, new proof by the bound key for this very request: a stolen token alone does not
    /// pass. 401 `DPoP error="invalid_token"` otherwise.
    Dpop,
    /// Every requirement of the list.
    All(Vec<Requirement>),
}

fn sorted<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    v.sort();
    v.dedup();
    v
}

impl Requirement {
    /// At least one of `roles`. An empty list admits nobody.
    pub fn any_role<I: IntoIterator<Item = S>, S: AsRef<str>>(roles: I) -> Self {
        Self::AnyRole(sorted(roles))
    }
    /// Every one of `roles`. An empty list admits nobody.
    pub fn all_roles<I: IntoIterator<Item = S>, S: AsRef<str>>(roles: I) -> Self {
        Self::AllRoles(sorted(roles))
    }
    /// At least one of `groups`. An empty list admits nobody.
    pub fn any_group<I: IntoIterator<Item = S>, S: AsRef<str>>(groups: I) -> Self {
        Self::AnyGroup(sorted(groups))
    }
    /// An agent token with at least one of `scopes`. An empty list admits nobody.
    pub fn agent_scope<I: IntoIterator<Item = S>, S: AsRef<str>>(scopes: I) -> Self {
        Self::AgentScope(sorted(scopes))
    }
    /// At least one of `scopes`. An empty list admits nobody.
    pub fn any_scope<I: IntoIterator<Item = S>, S: AsRef<str>>(scopes: I) -> Self {
        Self::AnyScope(sorted(scopes))
    }

    /// Both `self` and `other` (AND). Combining with [`Requirement::Anonymous`] keeps the
    /// other side: a marker can only add protection.
    #[must_use]
    pub fn and(self, other: Requirement) -> Self {
        match (self, other) {
            (Self::Anonymous, r) | (r, Self::Anonymous) => r,
            (a, b) if a == b => a,
            (Self::All(mut a), Self::All(b)) => {
                for r in b {
                    if !a.contains(&r) {
                        a.push(r);
                    }
                }
                Self::All(a)
            }
            (Self::All(mut a), r) | (r, Self::All(mut a)) => {
                if !a.contains(&r) {
                    a.push(r);
                }
                Self::All(a)
            }
            (a, b) => Self::All(vec![a, b]),
        }
    }

    /// Whether a request without valid credentials may proceed.
    pub fn allows_anonymous(&self) -> bool {
        matches!(self, Self::Anonymous)
    }

    /// Whether checking needs the agent token.
    pub fn needs_agent(&self) -> bool {
        match self {
            Self::AgentScope(_) => true,
            Self::All(all) => all.iter().any(Self::needs_agent),
            _ => false,
        }
    }

    /// Checks the caller (`None`: no authenticated caller), without an agent.
    pub fn check(&self, caller: Option<&TokenClaims>) -> Result<(), AuthError> {
        self.check_with_agent(caller, None)
    }

    /// Checks the caller and, for [`Requirement::AgentScope`], the agent.
    pub fn check_with_agent(
        &self,
        caller: Option<&TokenClaims>,
        agent: Option<&AgentClaims>,
    ) -> Result<(), AuthError> {
        self.check_from(caller, agent, None)
    }

    /// [`check_with_agent`](Self::check_with_agent), knowing where the caller's token came
    /// from (`None`: not known, which [`Requirement::AuthorizationHeader`] refuses).
    pub fn check_from(
        &self,
        caller: Option<&TokenClaims>,
        agent: Option<&AgentClaims>,
        source: Option<crate::TokenSource>,
    ) -> Result<(), AuthError> {
        let claims = match (self, caller) {
            (Self::Anonymous, _) => return Ok(()),
            (_, None) => return Err(AuthError::NotAuthenticated),
            (_, Some(c)) => c,
        };
        match self {
            Self::Anonymous | Self::Authenticated => Ok(()),
            Self::AnyRole(roles) => {
                if roles.iter().any(|r| claims.has_role(r)) {
                    Ok(())
                } else {
                    Err(AuthError::InsufficientRole {
                        required: roles.clone(),
                        all: false,
                    })
                }
            }
            Self::AllRoles(roles) => {
                // An empty list admits nobody, as every other empty list does: a role list
                // that came out of configuration empty must not open the route.
                if !roles.is_empty() && roles.iter().all(|r| claims.has_role(r)) {
                    Ok(())
                } else {
                    Err(AuthError::InsufficientRole {
                        required: roles.clone(),
                        all: true,
                    })
                }
            }
            Self::AnyGroup(groups) => {
                if groups.iter().any(|g| claims.has_group(g)) {
                    Ok(())
                } else {
                    Err(AuthError::InsufficientGroup {
                        required: groups.clone(),
                    })
                }
            }
            Self::AnyScope(scopes) => {
                if any_scope_matches(claims.scopes(), scopes) {
                    Ok(())
                } else {
                    Err(AuthError::InsufficientScope {
                        required: scopes.clone(),
                    })
                }
            }
            Self::AgentScope(scopes) => {
                let agent = agent.ok_or(AuthError::MissingAgentToken)?;
                if any_scope_matches(agent.scopes(), scopes) {
                    Ok(())
                } else {
                    Err(AuthError::InsufficientAgentScope {
                        required: scopes.clone(),
                    })
                }
            }
            Self::AuthorizationHeader => match source {
                Some(crate::TokenSource::AuthorizationHeader) => Ok(()),
                _ => Err(AuthError::TokenSourceNotAllowed),
            },
            Self::Dpop => match claims.dpop_thumbprint() {
                Some(_) => Ok(()),
                None => Err(AuthError::DpopRequired),
            },
            Self::All(all) => all
                .iter()
                .try_for_each(|r| r.check_from(caller, agent, source)),
        }
    }
}

/// Whether a `granted` scope satisfies a `required` one (pico-client-auth's rule):
/// exact match; granted `*` matches anything; granted `a:b:*` matches `a:b` and everything
/// under it (`a:b:c`, `a:b:c:d`), but not `a:bc`. Mid-segment wildcards are not supported.
///
/// ```
/// use portcullis_core::scope_matches;
/// assert!(scope_matches("treasury:*", "treasury:write:budget"));
/// assert!(scope_matches("treasury:write:*", "treasury:write"));
/// assert!(!scope_matches("treasury:write:*", "treasury:writers"));
/// assert!(!scope_matches("treasury:write", "treasury:write:budget"));
/// ```
pub fn scope_matches(granted: &str, required: &str) -> bool {
    if granted == required || granted == "*" {
        return true;
    }
    match granted.strip_suffix(":*") {
        Some(prefix) => {
            required == prefix
                || required
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with(':'))
        }
        None => false,
    }
}

/// Whether any granted scope satisfies any required scope.
pub fn any_scope_matches<G: AsRef<str>, R: AsRef<str>>(granted: &[G], required: &[R]) -> bool {
    required.iter().any(|r| {
        granted
            .iter()
            .any(|g| scope_matches(g.as_ref(), r.as_ref()))
    })
}

/// The markers every adapter offers next to a route, as pico-client-auth's decorators.
pub mod markers {
    use super::Requirement;

    /// `@allow_anonymous`: anyone may call; a valid token still identifies the caller.
    pub fn allow_anonymous() -> Requirement {
        Requirement::Anonymous
    }
    /// The token must come in the `Authorization` header on this route, even where the
    /// application also accepts a cookie, custom header or query parameter (401 otherwise).
    /// Combine with another marker through [`Requirement::and`].
    pub fn requires_authorization_header() -> Requirement {
        Requirement::AuthorizationHeader
    }
    /// DPoP on this route (RFC 9449): the token must be DPoP-bound, and its proof for this
    /// request valid and new (401 with a `DPoP` challenge otherwise), even where the
    /// application also takes bearer tokens (`dpop: allowed`). With `dpop: off` nothing can
    /// pass it. Combine with another marker through [`Requirement::and`].
    pub fn requires_dpop() -> Requirement {
        Requirement::Dpop
    }
    /// `@requires_role(...)`: at least one of `roles` (403 otherwise).
    pub fn requires_role<I: IntoIterator<Item = S>, S: AsRef<str>>(roles: I) -> Requirement {
        Requirement::any_role(roles)
    }
    /// Every one of `roles`.
    pub fn requires_all_roles<I: IntoIterator<Item = S>, S: AsRef<str>>(roles: I) -> Requirement {
        Requirement::all_roles(roles)
    }
    /// `@requires_group(...)`: in at least one of `groups`.
    pub fn requires_group<I: IntoIterator<Item = S>, S: AsRef<str>>(groups: I) -> Requirement {
        Requirement::any_group(groups)
    }
    /// OAuth2 scopes of the caller's own bearer token (`scope` / `scp`, RFC 9068; the claim
    /// paths of `scope_claims`): at least one of `scopes` (wildcards apply). 403
    /// `insufficient_scope` with the `scope` attribute otherwise. What a resource server
    /// usually means by "scope".
    pub fn requires_token_scope<I: IntoIterator<Item = S>, S: AsRef<str>>(
        scopes: I,
    ) -> Requirement {
        Requirement::any_scope(scopes)
    }
    /// pico-client-auth's `@requires_scope(...)`: a second token, the *agent's*, in
    /// `X-Agent-Authorization`, granting one of `scopes` (wildcards apply): 401 when it is
    /// missing or invalid, 403 without the scope. The bearer token's own scopes do not count
    /// here; for those, see [`requires_token_scope`].
    pub fn requires_agent_scope<I: IntoIterator<Item = S>, S: AsRef<str>>(
        scopes: I,
    ) -> Requirement {
        Requirement::agent_scope(scopes)
    }
}
