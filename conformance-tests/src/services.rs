//! The reference application's service layer: framework-free code that reads the caller
//! from the `SecurityContext`, as application services do. Every adapter's reference
//! application answers with these.

use portcullis_core::{AgentContext, AuthError, SecurityContext};
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
