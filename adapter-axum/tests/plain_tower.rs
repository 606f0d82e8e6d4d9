//! The layer outside axum: a plain tower service (as hyper or tonic stacks use), where every
//! request requires authentication and the caller is in the SecurityContext.

use portcullis_axum::Gate;
use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, Authenticator, SecurityContext, StaticKeys};
use std::convert::Infallible;
use tower::{Layer, ServiceExt};

/// An authenticator for `https://auth.example.com` and `audience`, trusting `key` (of
/// algorithm `alg`).
fn authenticator(key: &TestKey, audience: &str, alg: &str) -> Authenticator {
    let config = AuthConfig::builder()
        .issuer("https://auth.example.com")
        .audience(audience)
        .accepted_algorithms([alg])
        .build()
        .unwrap();
    Authenticator::builder(config)
        .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[key])).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn protects_a_plain_tower_service() {
    let key = TestKey::ec_p256("k1");
    let gate = Gate::new(authenticator(&key, "grpc-api", "ES256"));
    let inner = tower::service_fn(|_req: http::Request<String>| async {
        let sub = SecurityContext::get()
            .and_then(|c| c.sub().map(str::to_owned))
            .unwrap_or_default();
        Ok::<_, Infallible>(http::Response::new(format!("hello {sub}")))
    });
    let service = gate.layer().layer(inner);

    let denied = service
        .clone()
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    assert_eq!(denied.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        denied.body(),
        r#"{"detail":"Missing or invalid Authorization header"}"#
    );

    let token = TokenBuilder::new(&key)
        .issuer("https://auth.example.com")
        .audience("grpc-api")
        .subject("svc-1")
        .sign();
    let request = http::Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let ok = service.oneshot(request).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.body(), "hello svc-1");
}

/// The gate's future is allocated once per request: at 1 KiB or more glibc serves it from its
/// large bins and consolidates its fast bins first, which measured 45 ns a request
/// (`cargo bench -p portcullis-axum --bench gate`).
#[test]
fn the_gates_future_stays_small() {
    use tower::Service as _;
    let auth = authenticator(&TestKey::rsa("k1"), "api", "RS256");
    // A router as the inner service: a pointer, answering with the future axum's routes
    // answer with (what the gate wraps when it is a router's layer).
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let mut service = Gate::new(auth).layer().layer(router);
    let future = service.call(http::Request::new(axum::body::Body::empty()));
    let size = std::mem::size_of_val(&*future);
    eprintln!("the gate's future: {size} bytes");
    assert!(size < 1000, "{size} bytes");
}
