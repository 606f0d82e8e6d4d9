//! The tutorial's transcript (and the policy cases around it), over real HTTP on 127.0.0.1,
//! against the axum adapter: the conformance suite's scenarios on a tutorial-sized app.

use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_axum::{allow_anonymous, requires_role, AuthRejection, Gate, RouterExt};
use portcullis_conformance::{services, Adapter, Server};
use portcullis_core::Authenticator;
use serde_json::Value;

struct Tutorial;

impl Adapter for Tutorial {
    const NAME: &'static str = "axum-tutorial";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        let gate = Gate::new(authenticator);
        let app = Router::new()
            .route(
                "/api/me",
                get(|| async { services::profile().map(Json).map_err(AuthRejection) }),
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
            .route_with(
                &gate,
                "/api/echo",
                post(|Json(v): Json<Value>| async move { Json(v) }),
                requires_role(["admin"]),
            )
            .route(
                "/api/handler/check",
                get(|| async { services::handler_check().map(Json).map_err(AuthRejection) }),
            )
            .layer(gate.layer())
            .route_with(
                &gate,
                "/api/health",
                get(|| async { Json(services::health()) }),
                allow_anonymous(),
            )
            .route_with(
                &gate,
                "/api/public/whoami",
                get(|| async { Json(services::whoami()) }),
                allow_anonymous(),
            );
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        let task = tokio::spawn(async move { axum::serve(listener, app).await });
        Server::new(move || task.abort())
    }
}

portcullis_conformance::tutorial_tests!(Tutorial);
