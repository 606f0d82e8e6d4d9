//! The `services.py` of pico-client-auth's tutorial, in Rust: plain code that finds the caller in the `SecurityContext`.

use portcullis_core::{AuthError, SecurityContext};
use serde_json::{json, Value};

/// The `UserService` of `docs/tutorial.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserService;

impl UserService {
    /// `{"sub", "email", "org_id", "roles"}` of the current caller.
    pub fn get_profile(&self) -> Result<Value, AuthError> {
        let claims = SecurityContext::require()?;
        Ok(json!({
            "sub": claims.sub(),
            "email": claims.email(),
            "org_id": claims.org_id(),
            "roles": SecurityContext::roles(),
        }))
    }

    /// Whether the current caller is an admin.
    pub fn is_admin(&self) -> bool {
        SecurityContext::has_role("admin")
    }
}

/// `GET /ready`: the authenticator's readiness, as a status code and a JSON body (200 when
/// ready, 503 when not).
pub fn readiness(authenticator: &portcullis_core::Authenticator) -> (u16, Value) {
    let readiness = authenticator.readiness();
    (if readiness.ready { 200 } else { 503 }, readiness.to_json())
}

/// `GET /api/health`.
pub fn health() -> Value {
    json!({"status": "ok"})
}

/// `GET /api/admin/stats`.
pub fn admin_stats() -> Value {
    json!({"users": 42, "active": 30})
}

/// `GET /api/editor/drafts`.
pub fn editor_drafts() -> Value {
    json!({"drafts": 5})
}
