//! How an application is assembled never lets a declared requirement be skipped: a route
//! with a requirement and no gate in front of it answers 500, a public route put behind the
//! gate stays authenticated, and a requirement travels with its handlers into nested
//! routers, onto HEAD, and into `any(..)`.

use axum::routing::{any, get, post};
use axum::Router;
use portcullis_axum::{allow_anonymous, requires_role, Gate, RouterExt};
use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, Authenticator, StaticKeys};
use std::sync::LazyLock;

static KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::ec_p256("k1"));

fn gate() -> Gate {
    let config = AuthConfig::builder()
        .issuer("https://auth.example.com")
        .audience("api")
        .accepted_algorithms(["ES256"])
        .build()
        .expect("config");
    let keys = StaticKeys::from_jwks(&TestKey::jwks(&[&KEY])).expect("keys");
    Gate::new(
        Authenticator::builder(config)
            .key_source(keys)
            .build()
            .expect("authenticator"),
    )
}

fn token(roles: &[&str]) -> String {
    TokenBuilder::new(&KEY)
        .issuer("https://auth.example.com")
        .audience("api")
        .subject("u1")
        .roles(roles)
        .sign()
}

/// Serves `app` on 127.0.0.1:0 and answers `(status, body)` for each request.
struct Served {
    base: String,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn new(app: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Self { base, client, task }
    }

    async fn call(&self, method: &str, path: &str, roles: Option<&[&str]>) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(roles) = roles {
            request = request.bearer_auth(token(roles));
        }
        let response = request.send().await.expect("response");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const NOT_ENFORCED: &str = r#"{"detail":"Authentication is not configured for this route"}"#;

#[tokio::test]
async fn a_requirement_without_the_gate_layer_answers_500_and_never_runs() {
    let gate = gate();
    let app = Router::new().route_with(
        &gate,
        "/admin",
        get(|| async { "admin ran" }),
        requires_role(["admin"]),
    );
    let served = Served::new(app).await;
    for roles in [None, Some(&["admin"][..]), Some(&["user"][..])] {
        assert_eq!(
            served.call("GET", "/admin", roles).await,
            (500, NOT_ENFORCED.to_owned())
        );
    }
}

#[tokio::test]
async fn a_requirement_added_below_the_gate_layer_answers_500() {
    let gate = gate();
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .layer(gate.layer())
        .route_with(
            &gate,
            "/admin",
            get(|| async { "admin ran" }),
            requires_role(["admin"]),
        );
    let served = Served::new(app).await;
    assert_eq!(served.call("GET", "/admin", None).await.0, 500);
    assert_eq!(served.call("GET", "/admin", Some(&["admin"])).await.0, 500);
    assert_eq!(served.call("GET", "/me", None).await.0, 401);
}

#[tokio::test]
async fn a_public_route_above_the_gate_layer_stays_authenticated() {
    let gate = gate();
    let app = Router::new()
        .route_with(&gate, "/health", get(|| async { "ok" }), allow_anonymous())
        .layer(gate.layer());
    let served = Served::new(app).await;
    assert_eq!(served.call("GET", "/health", None).await.0, 401);
    assert_eq!(
        served.call("GET", "/health", Some(&[])).await,
        (200, "ok".to_owned())
    );
}

#[tokio::test]
async fn requirements_travel_into_nested_routers_head_and_any() {
    let gate = gate();
    let api = Router::new()
        .route_with(
            &gate,
            "/admin",
            get(|| async { "admin" }),
            requires_role(["admin"]),
        )
        .route_with(
            &gate,
            "/any",
            any(|| async { "any" }),
            requires_role(["admin"]),
        )
        .route("/me", get(|| async { "me" }));
    let app = Router::new()
        .nest("/api", api)
        .route("/api/admin", post(|| async { "posted" }))
        .layer(gate.layer())
        .nest(
            "/public",
            Router::new().route_with(&gate, "/ping", get(|| async { "pong" }), allow_anonymous()),
        );
    let served = Served::new(app).await;
    let user = Some(&["user"][..]);
    let admin = Some(&["admin"][..]);
    assert_eq!(served.call("GET", "/api/admin", user).await.0, 403);
    assert_eq!(served.call("HEAD", "/api/admin", user).await.0, 403);
    assert_eq!(served.call("HEAD", "/api/admin", admin).await.0, 200);
    // A method merged onto the path later by a plain `route` keeps its own rule.
    assert_eq!(served.call("POST", "/api/admin", None).await.0, 401);
    assert_eq!(
        served.call("POST", "/api/admin", user).await,
        (200, "posted".to_owned())
    );
    for method in ["GET", "POST", "DELETE", "PURGE"] {
        assert_eq!(
            served.call(method, "/api/any", user).await.0,
            403,
            "{method}"
        );
        assert_eq!(
            served.call(method, "/api/any", admin).await.0,
            200,
            "{method}"
        );
    }
    assert_eq!(served.call("GET", "/api/me", None).await.0, 401);
    assert_eq!(served.call("GET", "/public/ping", None).await.0, 200);
    assert_eq!(served.call("GET", "/no/such/path", None).await.0, 401);
    assert_eq!(served.call("GET", "/no/such/path", user).await.0, 404);
}
