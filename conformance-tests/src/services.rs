//! The reference application's service layer: framework-free code that reads the caller
//! from the `SecurityContext`, as application services do. Every adapter's reference
//! application answers with these.

use portcullis_core::{AgentContext, AuthError, Requirement, SecurityContext};
use serde_json::{json, Value};
use std::time::Duration;

/// `GET /api/health`.
pub fn health() -> Value {
    json!({"status": "ok"})
}

/// `GET /api/me`: the tutorial's `UserService.get_profile`.
pub fn profile() -> Result<Value, AuthError> {
    let claims = SecurityContext::require()?;
    Ok(json!({
        "sub": claims.sub(),
        "email": claims.email(),
        "org_id": claims.org_id(),
        "roles": SecurityContext::roles(),
    }))
}

/// `GET /api/admin/stats`.
pub fn admin_stats() -> Value {
    json!({"users": 42, "active": 30})
}

/// `GET /api/editor/drafts`.
pub fn editor_drafts() -> Value {
    json!({"drafts": 5})
}

/// `GET /api/audit/report`.
pub fn audit_report() -> Value {
    json!({"report": "ok"})
}

/// `GET /api/team/board`.
pub fn team_board() -> Value {
    json!({"board": "team-alpha", "groups": SecurityContext::groups()})
}

/// `POST /api/treasury/payments`: the caller and the agent acting for it.
pub fn payment() -> Value {
    json!({
        "paid": true,
        "caller": SecurityContext::get().and_then(|c| c.sub().map(str::to_owned)),
        "agent": AgentContext::get().and_then(|a| a.sub().map(str::to_owned)),
    })
}

/// `GET /api/public/whoami`: the caller, if a valid token came.
pub fn whoami() -> Value {
    json!({"sub": SecurityContext::get().and_then(|c| c.sub().map(str::to_owned))})
}

/// `GET /api/context/nested`: the `sub` seen two calls deep, across awaits.
pub async fn nested() -> Value {
    json!({"sub": level_one().await})
}

async fn level_one() -> Option<String> {
    tokio::task::yield_now().await;
    level_two().await
}

async fn level_two() -> Option<String> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    tokio::task::yield_now().await;
    SecurityContext::get().and_then(|c| c.sub().map(str::to_owned))
}

/// `GET /api/context/spawned`: the `sub` seen in a spawned task that carried the context,
/// and in one that did not.
pub async fn spawned() -> Value {
    let carried = tokio::spawn(SecurityContext::carry(async {
        SecurityContext::get().and_then(|c| c.sub().map(str::to_owned))
    }));
    let plain =
        tokio::spawn(async { SecurityContext::get().and_then(|c| c.sub().map(str::to_owned)) });
    json!({
        "sub": carried.await.ok().flatten(),
        "uncarried": plain.await.ok().flatten(),
    })
}

/// `GET /api/handler/check`: a role check inside the handler (403, never 401).
pub fn handler_check() -> Result<Value, AuthError> {
    SecurityContext::require_role(["auditor"])?;
    Ok(json!({"checked": true}))
}

/// Every route of the reference application, with the requirement it is declared with.
///
/// Each adapter declares these requirements with its own markers, in its own idiom; every
/// handler then answers through [`respond`], which first runs the [`oracle`]: the handler
/// itself checks that its caller satisfies the requirement it was declared with. A handler
/// that runs for a caller who does not answers [`ORACLE_STATUS`], and every scenario fails
/// on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /api/health`: anonymous.
    Health,
    /// `POST /api/health`: no marker (authenticated), on the path of an anonymous route.
    HealthPost,
    /// `GET /api/me`: no marker (authenticated).
    Me,
    /// `GET /api/admin/stats`: role `admin`.
    AdminStats,
    /// `GET /api/editor/drafts`: role `editor` or `admin`.
    EditorDrafts,
    /// `GET /api/audit/report`: roles `auditor` and `admin`.
    AuditReport,
    /// `GET /api/team/board`: group `team-alpha`.
    TeamBoard,
    /// `POST /api/treasury/payments`: role `treasury-service` and agent scope `treasury:write:*`.
    Payments,
    /// `POST /api/echo`: role `admin`; echoes its JSON body.
    Echo,
    /// `GET /api/public/whoami`: anonymous.
    Whoami,
    /// `GET /api/context/nested`: no marker.
    ContextNested,
    /// `GET /api/context/spawned`: no marker.
    ContextSpawned,
    /// `GET /api/handler/check`: no marker; a role check inside the handler.
    HandlerCheck,
    /// `GET /api/items/{id}`: anonymous (a path parameter).
    ItemGet,
    /// `DELETE /api/items/{id}`: role `admin` (same path, another requirement).
    ItemDelete,
    /// `GET /api/v1/admin/report`: role `admin`, in a nested router / scope.
    NestedAdmin,
    /// `GET /api/v1/me`: no marker, in a nested router / scope.
    NestedMe,
    /// `GET /api/docs`: the bearer token's own scope `docs:read`.
    TokenScope,
    /// `GET /api/macro/admin`: role `admin` (a macro-routed handler in actix-web).
    MacroAdmin,
    /// `GET /api/typed`: no marker; the adapter's typed claims extractor ([`Profile`]).
    Typed,
    /// `POST /api/account/close`: the token must come in the `Authorization` header, not a
    /// configured cookie, header or query parameter.
    AccountClose,
    /// `POST /api/dpop/transfer`: DPoP on this route (`requires_dpop`): a DPoP-bound token
    /// with a valid, new proof for this request.
    DpopTransfer,
}

/// The status a handler answers when it runs for a caller who does not satisfy its own
/// requirement: a breach, never a legitimate answer.
pub const ORACLE_STATUS: u16 = 599;

impl Route {
    /// Every route.
    pub const ALL: &'static [Route] = &[
        Route::Health,
        Route::HealthPost,
        Route::Me,
        Route::AdminStats,
        Route::EditorDrafts,
        Route::AuditReport,
        Route::TeamBoard,
        Route::Payments,
        Route::Echo,
        Route::Whoami,
        Route::ContextNested,
        Route::ContextSpawned,
        Route::HandlerCheck,
        Route::ItemGet,
        Route::ItemDelete,
        Route::NestedAdmin,
        Route::NestedMe,
        Route::TokenScope,
        Route::MacroAdmin,
        Route::Typed,
        Route::AccountClose,
        Route::DpopTransfer,
    ];

    /// The route's method.
    pub fn method(self) -> &'static str {
        match self {
            Route::HealthPost
            | Route::Payments
            | Route::Echo
            | Route::AccountClose
            | Route::DpopTransfer => "POST",
            Route::ItemDelete => "DELETE",
            _ => "GET",
        }
    }

    /// A concrete path of the route (`42` for a path parameter).
    pub fn path(self) -> &'static str {
        match self {
            Route::Health | Route::HealthPost => "/api/health",
            Route::Me => "/api/me",
            Route::AdminStats => "/api/admin/stats",
            Route::EditorDrafts => "/api/editor/drafts",
            Route::AuditReport => "/api/audit/report",
            Route::TeamBoard => "/api/team/board",
            Route::Payments => "/api/treasury/payments",
            Route::Echo => "/api/echo",
            Route::Whoami => "/api/public/whoami",
            Route::ContextNested => "/api/context/nested",
            Route::ContextSpawned => "/api/context/spawned",
            Route::HandlerCheck => "/api/handler/check",
            Route::ItemGet | Route::ItemDelete => "/api/items/42",
            Route::NestedAdmin => "/api/v1/admin/report",
            Route::NestedMe => "/api/v1/me",
            Route::TokenScope => "/api/docs",
            Route::MacroAdmin => "/api/macro/admin",
            Route::Typed => "/api/typed",
            Route::AccountClose => "/api/account/close",
            Route::DpopTransfer => "/api/dpop/transfer",
        }
    }

    /// The requirement the route is declared with.
    pub fn requirement(self) -> Requirement {
        match self {
            Route::Health | Route::Whoami | Route::ItemGet => Requirement::Anonymous,
            Route::HealthPost
            | Route::Me
            | Route::ContextNested
            | Route::ContextSpawned
            | Route::HandlerCheck
            | Route::NestedMe
            | Route::Typed => Requirement::Authenticated,
            Route::AdminStats
            | Route::Echo
            | Route::ItemDelete
            | Route::NestedAdmin
            | Route::MacroAdmin => Requirement::any_role(["admin"]),
            Route::EditorDrafts => Requirement::any_role(["editor", "admin"]),
            Route::AuditReport => Requirement::all_roles(["auditor", "admin"]),
            Route::TeamBoard => Requirement::any_group(["team-alpha"]),
            Route::Payments => Requirement::any_role(["treasury-service"])
                .and(Requirement::agent_scope(["treasury:write:*"])),
            Route::TokenScope => Requirement::any_scope(["docs:read"]),
            Route::AccountClose => Requirement::AuthorizationHeader,
            Route::DpopTransfer => Requirement::Dpop,
        }
    }
}

/// The handler-side oracle: `Some(body)` when this handler runs for a caller who does not
/// satisfy `route`'s declared requirement. Independent of the markers: it evaluates the
/// requirement itself against the caller and agent in the task-local context.
pub fn oracle(route: Route) -> Option<Value> {
    let requirement = route.requirement();
    if requirement.allows_anonymous() || !SecurityContext::enforcing() {
        return None;
    }
    let caller = SecurityContext::get();
    let agent = AgentContext::get();
    match requirement.check_from(
        caller.as_ref(),
        agent.as_ref(),
        SecurityContext::token_source(),
    ) {
        Ok(()) => None,
        Err(e) => Some(json!({
            "oracle": "handler ran for a caller who does not satisfy its requirement",
            "route": format!("{route:?}"),
            "reason": e.reason(),
        })),
    }
}

/// What every handler of the reference application answers: the oracle first, then the
/// route's service. `Err` is an [`AuthError`] raised by the service, for the adapter to
/// turn into the core's answer.
pub async fn respond(route: Route) -> Result<(u16, Value), AuthError> {
    if let Some(breach) = oracle(route) {
        return Ok((ORACLE_STATUS, breach));
    }
    let body = match route {
        Route::Health => health(),
        Route::HealthPost => json!({"posted": true}),
        Route::Me | Route::NestedMe => profile()?,
        Route::AdminStats | Route::MacroAdmin => admin_stats(),
        Route::EditorDrafts => editor_drafts(),
        Route::AuditReport => audit_report(),
        Route::TeamBoard => team_board(),
        Route::Payments => payment(),
        Route::Echo => json!({}),
        Route::Whoami => whoami(),
        Route::ContextNested => nested().await,
        Route::ContextSpawned => spawned().await,
        Route::HandlerCheck => handler_check()?,
        Route::ItemGet => json!({"item": 42}),
        Route::ItemDelete => json!({"deleted": 42}),
        Route::NestedAdmin => json!({"report": "v1"}),
        Route::TokenScope => json!({"docs": ["guide"]}),
        Route::AccountClose => json!({"closed": true}),
        Route::DpopTransfer => {
            json!({"transferred": true, "jkt": SecurityContext::get().and_then(|c| c.dpop_thumbprint().map(str::to_owned))})
        }
        Route::Typed => json!({"typed": "use typed()"}),
    };
    Ok((200, body))
}

/// `POST /api/echo`: the oracle, then the body back.
pub fn echo(body: Value) -> (u16, Value) {
    match oracle(Route::Echo) {
        Some(breach) => (ORACLE_STATUS, breach),
        None => (200, body),
    }
}

/// The claims `GET /api/typed` extracts with the adapter's typed extractor.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub struct Profile {
    /// `sub`.
    pub sub: String,
    /// `org_id`: tokens without it do not fit.
    pub org_id: String,
}

/// `GET /api/typed`: the oracle, then the typed claims back.
pub fn typed(profile: &Profile) -> (u16, Value) {
    match oracle(Route::Typed) {
        Some(breach) => (ORACLE_STATUS, breach),
        None => (200, json!(profile)),
    }
}
