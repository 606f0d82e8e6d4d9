//! Red-team tests of the axum gate after commit 14f012c (the inner service called through
//! `tower::util::Oneshot` inside the caller's scope; `Caller::scope` nesting both task-local
//! scopes). Every test asserts the SAFE behaviour: the inner service is called only for an
//! admitted request, only once ready, and always inside the caller's scope (enforcing, with
//! the caller and the agent), for the first request of a token and its cached repeats alike.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use portcullis_axum::{
    allow_anonymous, requires_agent_scope, requires_role, Agent, AuthRejection, Claims, Gate,
    RouterExt,
};
use portcullis_core::testkit::{ManualClock, TestKey, TokenBuilder};
use portcullis_core::{
    AgentContext, AuthConfig, AuthConfigBuilder, Authenticator, SecurityContext, StaticKeys,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use tower::{Layer, Service, ServiceExt};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "api";
const NOW: i64 = 1_700_000_000;

static KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::ec_p256("k1"));

fn config() -> AuthConfigBuilder {
    AuthConfig::builder()
        .issuer(ISS)
        .audience(AUD)
        .accepted_algorithms(["ES256"])
        .leeway_seconds(0)
}

fn gate_with(config: AuthConfigBuilder) -> (Gate, ManualClock) {
    let clock = ManualClock::new(NOW);
    let auth = Authenticator::builder(config.build().expect("config"))
        .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[&KEY])).expect("keys"))
        .clock(clock.clone())
        .build()
        .expect("authenticator");
    (Gate::new(auth), clock)
}

fn token() -> TokenBuilder<'static> {
    TokenBuilder::new(&KEY)
        .now(NOW)
        .issuer(ISS)
        .audience(AUD)
        .subject("u1")
}

fn agent_token(scopes: &[&str]) -> String {
    TokenBuilder::new(&KEY)
        .now(NOW)
        .issuer(ISS)
        .audience(AUD)
        .subject("agent-1")
        .claim("scopes", serde_json::json!(scopes))
        .sign()
}

/// What the caller's scope holds at this point.
fn describe() -> String {
    format!(
        "installed={} enforcing={} sub={:?} agent={:?} source={:?}",
        SecurityContext::is_installed(),
        SecurityContext::enforcing(),
        SecurityContext::get().and_then(|c| c.sub().map(str::to_owned)),
        AgentContext::get().and_then(|a| a.sub().map(str::to_owned)),
        SecurityContext::token_source(),
    )
}

const USER_WITH_AGENT: &str = "installed=true enforcing=true sub=Some(\"u1\") \
    agent=Some(\"agent-1\") source=Some(AuthorizationHeader)";
const USER: &str = "installed=true enforcing=true sub=Some(\"u1\") agent=None \
    source=Some(AuthorizationHeader)";
const ANONYMOUS: &str = "installed=true enforcing=true sub=None agent=None source=None";
const DISABLED: &str = "installed=true enforcing=false sub=None agent=None source=None";

// ----- a plain tower service behind the gate --------------------------------------------------

/// A service that keeps tower's rule strictly: `call` only after a `poll_ready` that said
/// ready (a clone is not ready, as with `Buffer` or `ConcurrencyLimit`), each readiness used
/// once. It answers with what the scope held in `call` and in its future.
struct Strict {
    ready: bool,
    calls: Arc<AtomicUsize>,
    readies: Arc<AtomicUsize>,
    broken: Arc<AtomicBool>,
}

impl Clone for Strict {
    fn clone(&self) -> Self {
        Self {
            ready: false,
            calls: Arc::clone(&self.calls),
            readies: Arc::clone(&self.readies),
            broken: Arc::clone(&self.broken),
        }
    }
}

impl Strict {
    fn new() -> Self {
        Self {
            ready: false,
            calls: Arc::default(),
            readies: Arc::default(),
            broken: Arc::default(),
        }
    }
}

impl Service<http::Request<String>> for Strict {
    type Response = http::Response<String>;
    type Error = &'static str;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.broken.load(Ordering::SeqCst) {
            return Poll::Ready(Err("inner not ready"));
        }
        self.readies.fetch_add(1, Ordering::SeqCst);
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<String>) -> Self::Future {
        assert!(self.ready, "call without a poll_ready that said ready");
        self.ready = false;
        self.calls.fetch_add(1, Ordering::SeqCst);
        let at_call = describe();
        Box::pin(async move {
            tokio::task::yield_now().await;
            let in_future = describe();
            Ok(http::Response::new(format!("{at_call}|{in_future}")))
        })
    }
}

fn plain_request(authorization: Option<&str>, agent: Option<&str>) -> http::Request<String> {
    let mut builder = http::Request::builder().uri("/svc");
    if let Some(t) = authorization {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    if let Some(t) = agent {
        builder = builder.header("x-agent-authorization", format!("Bearer {t}"));
    }
    builder.body(String::new()).unwrap()
}

/// `call` and the future of the inner service both run inside the caller's scope, with the
/// caller and the agent, enforcing, for the first request and every cached repeat; nothing
/// is installed once the gate's future is done.
#[tokio::test]
async fn the_inner_service_runs_inside_the_callers_scope_first_and_cached() {
    let (gate, _) = gate_with(config());
    let inner = Strict::new();
    let calls = Arc::clone(&inner.calls);
    let mut service = gate.layer().layer(inner);
    let user = token().sign();
    let agent = agent_token(&["x"]);
    for i in 0..3 {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(plain_request(Some(&user), Some(&agent)))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(
            response.body(),
            &format!("{USER_WITH_AGENT}|{USER_WITH_AGENT}"),
            "request {i}"
        );
        assert!(!SecurityContext::is_installed());
        assert!(AgentContext::get().is_none());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(gate.authenticator().cached_tokens(), 1);
}

/// A refused request never reaches the inner service (neither its `call` nor the readiness
/// that `Oneshot` asks for), first or cached: no token, a forged one, an expired cached one.
#[tokio::test]
async fn a_refused_request_never_reaches_the_inner_service() {
    let (gate, clock) = gate_with(config());
    let inner = Strict::new();
    let (calls, readies) = (Arc::clone(&inner.calls), Arc::clone(&inner.readies));
    let mut service = gate.layer().layer(inner);
    let good = token().lifetime(10).sign();
    let mut forged = good.clone();
    forged.pop();
    forged.push(if good.ends_with('A') { 'B' } else { 'A' });
    let ok = service
        .ready()
        .await
        .unwrap()
        .call(plain_request(Some(&good), None))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    clock.advance(10);
    for _ in 0..2 {
        for authorization in [None, Some(forged.as_str()), Some(good.as_str())] {
            service.ready().await.unwrap();
            let readies_before = readies.load(Ordering::SeqCst);
            let refused = service
                .call(plain_request(authorization, None))
                .await
                .unwrap();
            assert_eq!(refused.status(), 401, "{authorization:?}");
            assert_eq!(readies.load(Ordering::SeqCst), readies_before);
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// An inner service that stops being ready between the gate's `poll_ready` and its call (the
/// readiness `Oneshot` asks for again) gives its error back; it is never called unready and
/// never answered with a success.
#[tokio::test]
async fn an_inner_service_that_is_not_ready_is_never_called() {
    let (gate, _) = gate_with(config());
    let inner = Strict::new();
    let (calls, broken) = (Arc::clone(&inner.calls), Arc::clone(&inner.broken));
    let mut service = gate.layer().layer(inner);
    let user = token().sign();
    // Cached first.
    let ok = service
        .ready()
        .await
        .unwrap()
        .call(plain_request(Some(&user), None))
        .await
        .unwrap();
    assert_eq!(ok.body(), &format!("{USER}|{USER}"));
    service.ready().await.unwrap();
    broken.store(true, Ordering::SeqCst);
    let result = service.call(plain_request(Some(&user), None)).await;
    assert_eq!(result.unwrap_err(), "inner not ready");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // And the gate's own readiness says so.
    assert_eq!(service.ready().await.err(), Some("inner not ready"));
}

/// Many requests in flight at once through clones of one gate (as hyper drives it): each is
/// answered inside its own caller's scope, never a neighbour's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_see_their_own_caller() {
    let (gate, _) = gate_with(config());
    let service = gate.layer().layer(Strict::new());
    let mut tasks = Vec::new();
    for i in 0..64 {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let sub = format!("user-{}", i % 8);
            let t = token().subject(&sub).sign();
            let response = service
                .oneshot(plain_request(Some(&t), None))
                .await
                .unwrap();
            let want = format!(
                "installed=true enforcing=true sub=Some({sub:?}) agent=None \
                 source=Some(AuthorizationHeader)"
            );
            assert_eq!(response.body(), &format!("{want}|{want}"));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

// ----- an axum router -------------------------------------------------------------------------

fn router(gate: &Gate) -> Router {
    Router::new()
        .route("/me", get(|Claims(_): Claims| async { describe() }))
        .route_with(
            gate,
            "/admin",
            get(|| async { describe() }),
            requires_role(["admin"]),
        )
        .route_with(
            gate,
            "/agent",
            get(|Agent(a): Agent| async move { format!("{:?}|{}", a.sub(), describe()) }),
            requires_agent_scope(["x"]),
        )
        .layer(gate.layer())
        .route_with(
            gate,
            "/public",
            get(|| async {
                let seen = describe();
                SecurityContext::require_role(["admin"])?;
                Ok::<_, AuthRejection>(seen)
            }),
            allow_anonymous(),
        )
}

async fn send(app: &Router, path: &str, user: Option<&str>, agent: Option<&str>) -> (u16, String) {
    let mut builder = http::Request::builder().uri(path);
    if let Some(t) = user {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    if let Some(t) = agent {
        builder = builder.header("x-agent-authorization", format!("Bearer {t}"));
    }
    let response = app
        .clone()
        .oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Every route's answer is the same for the first request of a token and its cached
/// repeats: the caller, the requirement, the agent.
#[tokio::test]
async fn a_routers_answers_are_the_same_first_and_cached() {
    let (gate, _) = gate_with(config());
    let app = router(&gate);
    let user = token().roles(&["user"]).sign();
    let admin = token().roles(&["admin"]).sign();
    let agent = agent_token(&["x"]);
    let weak_agent = agent_token(&["y"]);
    let mut forged_agent = agent.clone();
    forged_agent.pop();
    forged_agent.push(if agent.ends_with('A') { 'B' } else { 'A' });
    for i in 0..3 {
        let check = |got: (u16, String), status: u16, body: Option<&str>, what: &str| {
            assert_eq!(got.0, status, "{what}, request {i}: {}", got.1);
            if let Some(body) = body {
                assert_eq!(got.1, body, "{what}, request {i}");
            }
        };
        check(
            send(&app, "/me", Some(&user), None).await,
            200,
            Some(USER),
            "me",
        );
        check(
            send(&app, "/me", None, None).await,
            401,
            None,
            "me, no token",
        );
        check(
            send(&app, "/admin", Some(&user), None).await,
            403,
            None,
            "admin as user",
        );
        check(
            send(&app, "/admin", Some(&admin), None).await,
            200,
            Some(USER),
            "admin",
        );
        check(
            send(&app, "/agent", Some(&user), Some(&agent)).await,
            200,
            Some(&format!("Some(\"agent-1\")|{USER_WITH_AGENT}")),
            "agent",
        );
        check(
            send(&app, "/agent", Some(&user), None).await,
            401,
            None,
            "agent missing",
        );
        check(
            send(&app, "/agent", Some(&user), Some(&forged_agent)).await,
            401,
            None,
            "agent forged",
        );
        check(
            send(&app, "/agent", Some(&user), Some(&weak_agent)).await,
            403,
            None,
            "agent without the scope",
        );
        // The caller's own token as the agent's.
        check(
            send(&app, "/agent", Some(&user), Some(&user)).await,
            401,
            None,
            "agent = user",
        );
        check(
            send(&app, "/public", Some(&admin), None).await,
            200,
            Some(USER),
            "public as admin",
        );
        check(
            send(&app, "/public", Some(&user), None).await,
            403,
            None,
            "public as user",
        );
        check(
            send(&app, "/public", None, None).await,
            401,
            None,
            "public, anonymous",
        );
    }
    assert_eq!(gate.authenticator().cached_tokens(), 2);
}

/// A public route (optional authentication) installs an enforcing context for an anonymous
/// caller too, also when the token was cached and has expired since: never the disabled
/// gate's context that lets every requirement pass.
#[tokio::test]
async fn a_public_routes_anonymous_caller_is_enforced() {
    let (gate, clock) = gate_with(config());
    let app = Router::new().route_with(
        &gate,
        "/public",
        get(|| async {
            let seen = describe();
            match SecurityContext::require_role(["admin"]) {
                Ok(()) => format!("{seen}|admin"),
                Err(e) => format!("{seen}|{}", e.status()),
            }
        }),
        allow_anonymous(),
    );
    let admin = token().roles(&["admin"]).lifetime(10).sign();
    for _ in 0..2 {
        let (status, body) = send(&app, "/public", Some(&admin), None).await;
        assert_eq!(
            (status, body.as_str()),
            (200, format!("{USER}|admin").as_str())
        );
    }
    clock.advance(10);
    for user in [Some(admin.as_str()), Some("garbage"), None] {
        let (status, body) = send(&app, "/public", user, None).await;
        assert_eq!(status, 200);
        assert_eq!(body, format!("{ANONYMOUS}|401"), "{user:?}");
    }
}

/// Only a gate whose authentication is disabled installs the non-enforcing context, and
/// anonymous even with a valid token; the gate and the public route's marker alike.
#[tokio::test]
async fn only_a_disabled_gate_is_not_enforcing() {
    let (gate, _) = gate_with(config().enabled(false));
    let app = router(&gate);
    let admin = token().roles(&["admin"]).sign();
    for _ in 0..2 {
        for user in [Some(admin.as_str()), None] {
            assert_eq!(
                send(&app, "/admin", user, None).await,
                (200, DISABLED.to_owned())
            );
            // A check inside a handler still sees no caller (enforce.rs pins it in the core):
            // the public route's marker installed the same anonymous, non-enforcing context.
            let (status, _) = send(&app, "/public", user, None).await;
            assert_eq!(status, 401);
        }
    }
    // The plain-service gate too.
    let service = gate.layer().layer(Strict::new());
    let response = service
        .oneshot(plain_request(Some(&admin), None))
        .await
        .unwrap();
    assert_eq!(response.body(), &format!("{DISABLED}|{DISABLED}"));
}
