//! The tutorial's `services.py`: plain code that finds the caller in the `SecurityContext`.

use portcullis_core::{AuthError, SecurityContext};
use serde_json::{json, Value};

/// The tutorial's `UserService`.
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
