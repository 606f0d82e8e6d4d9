//! Routes declared on a nested router are matched by the full path axum reports.

use axum::routing::get;
use axum::Router;
use portcullis_axum::{allow_anonymous, Gate, RouterExt};
use portcullis_conformance::{run, Adapter, Harness, Server};
use portcullis_core::Authenticator;

struct Nested;

impl Adapter for Nested {
    const NAME: &'static str = "axum-nested";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        let gate = Gate::new(authenticator);
        let api = Router::new()
            .route_with(
                &gate.nested("/api"),
                "/health",
                get(|| async { "ok" }),
                allow_anonymous(),
            )
            .route("/me", get(|| async { "me" }));
        let app = Router::new().nest("/api", api).layer(gate.layer());
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        let task = tokio::spawn(async move { axum::serve(listener, app).await });
        Server::new(move || task.abort())
    }
}

async fn nested(h: &Harness<Nested>) {
    let app = h.app().await;
    assert_eq!(app.get("/api/health", None).await.status, 200);
    assert_eq!(app.get("/api/me", None).await.status, 401);
    assert_eq!(
        app.get("/api/me", Some(&h.with_roles(&[]))).await.body,
        "me"
    );
}

#[test]
fn nested_router_declarations_use_the_full_path() {
    run::<Nested>(|h| Box::pin(nested(h)));
}
