//! The Protected API on axum.

use crate::services::{self, UserService};
use axum::routing::get;
use axum::{Json, Router};
use portcullis_axum::{allow_anonymous, requires_role, AuthRejection, Gate, RouterExt};
use portcullis_core::Authenticator;

/// The application.
pub fn app(authenticator: Authenticator) -> Router {
    let readiness = authenticator.clone();
    let gate = Gate::new(authenticator);
    let users = UserService;
    Router::new()
        .route(
            "/api/me",
            get(move || async move { users.get_profile().map(Json).map_err(AuthRejection) }),
        )
        .route_with(
            &gate,
            "/api/admin/stats",
            get(|| async { Json(services::admin_stats()) }),
            requires_role(["admin"]),
        )
        .route_with(
            &gate,
            "/api/editor/drafts",
            get(|| async { Json(services::editor_drafts()) }),
            requires_role(["editor", "admin"]),
        )
        // The gate: every route above, and every unknown path, needs a valid token.
        .layer(gate.layer())
        // Public routes: below the gate.
        .route_with(
            &gate,
            "/api/health",
            get(|| async { Json(services::health()) }),
            allow_anonymous(),
        )
        // Readiness for a load balancer: keys loaded and fresh (503 otherwise).
        .route_with(
            &gate,
            "/ready",
            get(move || {
                let (status, body) = services::readiness(&readiness);
                async move {
                    (
                        axum::http::StatusCode::from_u16(status)
                            .unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE),
                        Json(body),
                    )
                }
            }),
            allow_anonymous(),
        )
}

/// Serves the application on `listener`.
pub async fn serve(
    authenticator: Authenticator,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, app(authenticator)).await
}
