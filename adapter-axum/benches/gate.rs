//! What the gate adds to a request, in process (no sockets, so none of a load test's noise):
//! the same route without auth, and behind the gate with a cached token and without the
//! cache, in one criterion group.
//!
//! `cargo bench -p portcullis-axum --bench gate`

use axum::routing::get;
use axum::{Json, Router};
use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_axum::Gate;
use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, Authenticator, SecurityContext, StaticKeys};
use std::hint::black_box;
use tower::ServiceExt as _;

const ISSUER: &str = "https://issuer.bench";

fn profile() -> serde_json::Value {
    serde_json::json!({
        "sub": "user-123", "email": "user@example.com", "org_id": "org-1", "roles": ["admin"]
    })
}

fn gate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let key = TestKey::rsa("rsa");
    let config = AuthConfig::builder()
        .issuer(ISSUER)
        .audience("api")
        .build()
        .expect("config");
    let authenticator = |config: AuthConfig| {
        Authenticator::builder(config)
            .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[&key])).expect("jwks"))
            .build()
            .expect("authenticator")
    };
    let uncached = AuthConfig::builder()
        .issuer(ISSUER)
        .audience("api")
        .cache_max_entries(0)
        .build()
        .expect("config");
    let token = TokenBuilder::new(&key)
        .issuer(ISSUER)
        .audience("api")
        .subject("user-123")
        .claim("email", serde_json::json!("user@example.com"))
        .claim("org_id", serde_json::json!("org-1"))
        .claim("roles", serde_json::json!(["admin"]))
        .lifetime(3600)
        .sign();
    let bearer = format!("Bearer {token}");
    let baseline = Router::new().route("/api/me", get(|| async { Json(profile()) }));
    let gated = |authenticator: Authenticator| {
        Router::new()
            .route(
                "/api/me",
                get(|| async {
                    let claims = SecurityContext::get().expect("caller");
                    Json(serde_json::json!({
                        "sub": claims.sub(), "email": claims.email(), "org_id": claims.org_id(),
                        "roles": claims.roles(),
                    }))
                }),
            )
            .layer(Gate::new(authenticator).layer())
    };
    let cached = gated(authenticator(config));
    let uncached = gated(authenticator(uncached));
    let request = || {
        http::Request::get("/api/me")
            .header("authorization", &bearer)
            .header("host", "api.example")
            .body(axum::body::Body::empty())
            .expect("request")
    };
    // One request through `app`, which must answer 200.
    let serve = |app: &Router| {
        runtime.block_on(async {
            let response = app.clone().oneshot(request()).await.expect("infallible");
            assert_eq!(response.status(), 200);
            black_box(response)
        })
    };
    let mut group = c.benchmark_group("axum/GET /api/me");
    for (name, app) in [
        ("no auth", &baseline),
        ("gate, cached token", &cached),
        ("gate, no cache (RS256 verified)", &uncached),
    ] {
        group.bench_function(name, |b| b.iter(|| serve(app)));
    }
    // What a service that logs at INFO (a `fmt` subscriber, written nowhere) pays per request.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    for (name, app) in [
        ("no auth, INFO log subscriber", &baseline),
        ("gate, cached token, INFO log subscriber", &cached),
    ] {
        group.bench_function(name, |b| b.iter(|| serve(app)));
    }
    group.finish();
}

criterion_group!(benches, gate);
criterion_main!(benches);
