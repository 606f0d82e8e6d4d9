//! The Protected API on warp.

use crate::services::{self, UserService};
use portcullis_core::Authenticator;
use portcullis_warp::{Gate, Protected};
use warp::Filter;

/// The application.
pub fn app(authenticator: Authenticator) -> Protected {
    let readiness = authenticator.clone();
    let gate = Gate::new(authenticator);
    let health = warp::path!("api" / "health").and(warp::get()).map(|| {
        warp::reply::with_status(
            warp::reply::json(&services::health()),
            warp::http::StatusCode::OK,
        )
    });
    // Readiness for a load balancer: keys loaded and fresh (503 otherwise).
    let ready = warp::path!("ready").and(warp::get()).map(move || {
        let (status, body) = services::readiness(&readiness);
        warp::reply::with_status(
            warp::reply::json(&body),
            warp::http::StatusCode::from_u16(status)
                .unwrap_or(warp::http::StatusCode::SERVICE_UNAVAILABLE),
        )
    });
    let public = health.or(ready).unify();
    let me = warp::path!("api" / "me")
        .and(warp::get())
        .and_then(|| async {
            UserService
                .get_profile()
                .map(|v| warp::reply::json(&v))
                .map_err(portcullis_warp::reject)
        });
    let stats = warp::path!("api" / "admin" / "stats")
        .and(warp::get())
        .and(gate.requires_role(["admin"]))
        .map(|| warp::reply::json(&services::admin_stats()));
    let drafts = warp::path!("api" / "editor" / "drafts")
        .and(warp::get())
        .and(gate.requires_role(["editor", "admin"]))
        .map(|| warp::reply::json(&services::editor_drafts()));
    let protected = me.or(stats).unify().or(drafts).unify();
    gate.protect(public, protected)
}

/// Serves the application on `listener`.
pub async fn serve(authenticator: Authenticator, listener: tokio::net::TcpListener) {
    app(authenticator).serve(listener).await;
}
