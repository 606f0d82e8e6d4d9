//! Live issuers: real authorization servers started as child processes on loopback, their
//! real tokens verified through the adapters over real HTTP.
//!
//! - **node-oidc-provider 9** (`live-issuers/oidc-provider/`): client-credentials access
//!   tokens in the JWT profile of RFC 9068 (`typ: at+jwt`), RS256 and ES256; portcullis
//!   configured by OIDC discovery with `require_typ: at+jwt`; keys rotated while the APIs run.
//! - **pico-auth** (`live-issuers/pico-auth/`, from PyPI): a user registered and logged in
//!   through its HTTP API; portcullis configured as a pico-client-auth user configures it
//!   (`issuer`, `audience`, the `jwks_endpoint` pico-client-auth defaults to) and by discovery.
//!
//! Both are installed by `live-issuers/setup.sh` (the README's test command runs it first).
//! An issuer that cannot be started fails its test with a message naming that script: these
//! tests never skip.

use base64::Engine as _;
use portcullis_conformance::{Adapter, App, Harness, Reply, Server};
use portcullis_core::{AuthConfig, AuthConfigBuilder, AuthError, Authenticator, SecurityContext};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SETUP: &str = "run `live-issuers/setup.sh` from the repository root first (it installs \
                     node-oidc-provider with npm and pico-auth with pip)";

/// How long an issuer may take to print its READY line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a whole test may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

// ------------------------------------------------------------------------------------------
// Issuer processes
// ------------------------------------------------------------------------------------------

fn live_issuers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("live-issuers")
}

/// A scratch directory for one issuer process, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "portcullis-live-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running issuer process: killed (and reaped) on drop, so a failing test leaks nothing.
struct IssuerProcess {
    name: &'static str,
    child: Child,
    /// The JSON of its `READY {...}` line.
    info: Value,
    stderr: PathBuf,
    _scratch: ScratchDir,
}

impl Drop for IssuerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl IssuerProcess {
    /// Starts `command` (stdout piped, stderr to a file in `scratch`) and waits, bounded, for
    /// its `READY {json}` line.
    fn start(name: &'static str, mut command: Command, scratch: ScratchDir) -> Self {
        let stderr = scratch.0.join("stderr.log");
        let stderr_file = std::fs::File::create(&stderr).expect("stderr log");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_file);
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("{name}: could not start {command:?}: {e}; {SETUP}");
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Reads every line (so the pipe never fills), forwards the first READY line.
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(json) = line.strip_prefix("READY ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(json.to_owned());
                    }
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut process = Self {
            name,
            child,
            info: Value::Null,
            stderr,
            _scratch: scratch,
        };
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(json) => {
                    process.info = serde_json::from_str(&json)
                        .unwrap_or_else(|e| panic!("{name}: unreadable READY line {json:?}: {e}"));
                    return process;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = process.child.wait().ok();
                    panic!(
                        "{name} exited before it was ready ({status:?}); {SETUP}\n--- its stderr ---\n{}",
                        tail(&process.stderr)
                    );
                }
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!(
                    "{name} exited before it was ready ({status}); {SETUP}\n--- its stderr ---\n{}",
                    tail(&process.stderr)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name} was not ready within {START_TIMEOUT:?}; {SETUP}\n--- its stderr ---\n{}",
                tail(&process.stderr)
            );
        }
    }

    fn info(&self, key: &str) -> &str {
        self.info[key]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no {key:?} in {}", self.name, self.info))
    }

    /// node-oidc-provider on a free loopback port.
    fn oidc_provider() -> Self {
        let dir = live_issuers_dir().join("oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider/package.json")
                .is_file(),
            "oidc-provider is not installed in {}: {SETUP}",
            dir.join("node_modules").display()
        );
        let mut command = Command::new("node");
        command.arg("server.mjs").arg("0").current_dir(&dir);
        Self::start("oidc-provider", command, ScratchDir::new("oidc-provider"))
    }

    /// pico-auth on a free loopback port, with its database and keys in a scratch directory.
    fn pico_auth() -> Self {
        let dir = live_issuers_dir();
        let python = dir.join(".venv/bin/python");
        assert!(
            python.is_file(),
            "pico-auth is not installed ({} is missing): {SETUP}",
            python.display()
        );
        let scratch = ScratchDir::new("pico-auth");
        let mut command = Command::new(&python);
        command
            .arg(dir.join("pico-auth/run.py"))
            .arg("--port")
            .arg("0")
            .arg("--data-dir")
            .arg(&scratch.0)
            .current_dir(&scratch.0);
        Self::start("pico-auth", command, scratch)
    }
}

// ------------------------------------------------------------------------------------------
// HTTP to the issuers
// ------------------------------------------------------------------------------------------

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

async fn json_of(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let text = response.text().await.expect("response body");
    assert!(status.is_success(), "{what}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

async fn post_json(url: &str, body: &Value) -> Value {
    let response = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    json_of(response, &format!("POST {url}")).await
}

/// The JOSE header and payload of a compact JWS, decoded (not verified).
fn decode(token: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        let segment = token.split('.').nth(i).expect("compact JWS");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(segment)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    (part(0), part(1))
}

fn show(label: &str, token: &str) {
    let (header, payload) = decode(token);
    println!("{label}\n  header  {header}\n  payload {payload}");
}

/// A client-credentials access token from node-oidc-provider for `resource`.
async fn client_credentials(op: &IssuerProcess, resource: &str, scope: &str) -> String {
    let body = format!(
        "grant_type=client_credentials&resource={}&scope={}",
        form_encode(resource),
        form_encode(scope)
    );
    let response = client()
        .post(op.info("token_endpoint"))
        .basic_auth(op.info("client_id"), Some(op.info("client_secret")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token request");
    let reply = json_of(response, "client_credentials token request").await;
    assert_eq!(reply["token_type"], "Bearer", "{reply}");
    reply["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token: {reply}"))
        .to_owned()
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// node-oidc-provider's test hooks: `rotate`, `drop-old`.
async fn admin(op: &IssuerProcess, action: &str) -> Value {
    let url = format!("{}/admin/{action}", op.info("issuer"));
    let response = client().post(&url).send().await.expect("admin request");
    json_of(response, &format!("POST {url}")).await
}

async fn published_kids(op: &IssuerProcess) -> Vec<String> {
    let url = format!("{}/jwks", op.info("issuer"));
    let response = client().get(&url).send().await.expect("JWKS request");
    let jwks = json_of(response, "JWKS").await;
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

fn kid(token: &str) -> String {
    decode(token).0["kid"].as_str().expect("kid").to_owned()
}

// ------------------------------------------------------------------------------------------
// A small application in each framework
// ------------------------------------------------------------------------------------------
//
// | route | requirement |
// |---|---|
// | `GET /api/health` | anonymous |
// | `GET /api/me` | authenticated; answers the caller's `sub`, roles, scopes and issuer |
// | `GET /api/admin` | role `superadmin` or `org_admin` (pico-auth's administrators) |
// | `GET /api/reports` | role `reporting-service` (the oidc-provider client's `roles`) |
// | `GET /api/read` | the token's own scope `api:read` (RFC 9068 `scope`) |

const ADMIN_ROLES: [&str; 2] = ["superadmin", "org_admin"];
const REPORTS_ROLE: [&str; 1] = ["reporting-service"];
const READ_SCOPE: [&str; 1] = ["api:read"];

fn me() -> Value {
    let claims = SecurityContext::get().expect("a caller behind the gate");
    json!({
        "sub": claims.sub(),
        "iss": claims.issuer(),
        "roles": SecurityContext::roles(),
        "scopes": SecurityContext::scopes(),
    })
}

struct AxumApp;

impl Adapter for AxumApp {
    const NAME: &'static str = "axum";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use axum::routing::get;
        use axum::{Json, Router};
        use portcullis_axum::{
            allow_anonymous, requires_role, requires_token_scope, Gate, RouterExt,
        };
        let gate = Gate::new(authenticator);
        let app = Router::new()
            .route("/api/me", get(|| async { Json(me()) }))
            .route_with(
                &gate,
                "/api/admin",
                get(|| async { Json(json!({"admin": true})) }),
                requires_role(ADMIN_ROLES),
            )
            .route_with(
                &gate,
                "/api/reports",
                get(|| async { Json(json!({"reports": true})) }),
                requires_role(REPORTS_ROLE),
            )
            .route_with(
                &gate,
                "/api/read",
                get(|| async { Json(json!({"read": true})) }),
                requires_token_scope(READ_SCOPE),
            )
            .layer(gate.layer())
            .route_with(
                &gate,
                "/api/health",
                get(|| async { Json(json!({"status": "ok"})) }),
                allow_anonymous(),
            );
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let task = tokio::spawn(async move { axum::serve(listener, app).await });
        Server::new(move || task.abort())
    }
}

struct ActixApp;

impl Adapter for ActixApp {
    const NAME: &'static str = "actix";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use actix_web::{guard, web, App, HttpResponse, HttpServer};
        use portcullis_actix::{allow_anonymous, requires_role, requires_token_scope, Gate};
        fn json_route(body: fn() -> Value) -> actix_web::Route {
            web::get().to(move || async move { HttpResponse::Ok().json(body()) })
        }
        let gate = Gate::new(authenticator);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .service(
                            gate.resource("/api/health", allow_anonymous())
                                .guard(guard::Get())
                                .route(json_route(|| json!({"status": "ok"}))),
                        )
                        .service(
                            gate.protected()
                                .service(web::resource("/api/me").route(json_route(me)))
                                .service(
                                    gate.resource("/api/admin", requires_role(ADMIN_ROLES))
                                        .route(json_route(|| json!({"admin": true}))),
                                )
                                .service(
                                    gate.resource("/api/reports", requires_role(REPORTS_ROLE))
                                        .route(json_route(|| json!({"reports": true}))),
                                )
                                .service(
                                    gate.resource("/api/read", requires_token_scope(READ_SCOPE))
                                        .route(json_route(|| json!({"read": true}))),
                                ),
                        )
                        .default_service(gate.default_service(HttpResponse::NotFound))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                let handle = server.handle();
                actix_web::rt::spawn(async move {
                    let _ = stop_rx.await;
                    handle.stop(false).await;
                });
                let _ = server.await;
            });
        });
        Server::new(move || {
            let _ = stop_tx.send(());
            let _ = thread.join();
        })
    }
}

struct WarpApp;

impl Adapter for WarpApp {
    const NAME: &'static str = "warp";

    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server {
        use portcullis_warp::Gate;
        use warp::Filter;
        let gate = Gate::new(authenticator);
        let public = warp::path!("api" / "health")
            .and(warp::get())
            .map(|| warp::reply::json(&json!({"status": "ok"})));
        let protected = warp::path!("api" / "me")
            .and(warp::get())
            .map(|| warp::reply::json(&me()))
            .or(warp::path!("api" / "admin")
                .and(warp::get())
                .and(gate.requires_role(ADMIN_ROLES))
                .map(|| warp::reply::json(&json!({"admin": true}))))
            .unify()
            .or(warp::path!("api" / "reports")
                .and(warp::get())
                .and(gate.requires_role(REPORTS_ROLE))
                .map(|| warp::reply::json(&json!({"reports": true}))))
            .unify()
            .or(warp::path!("api" / "read")
                .and(warp::get())
                .and(gate.requires_token_scope(READ_SCOPE))
                .map(|| warp::reply::json(&json!({"read": true}))))
            .unify();
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let task = tokio::spawn(gate.protect(public, protected).serve(listener));
        Server::new(move || task.abort())
    }
}

/// Starts adapter `A`'s application with an authenticator built from `config` (on the
/// system clock: these tokens carry real times).
async fn start<A: Adapter>(config: AuthConfigBuilder) -> App {
    let authenticator = Authenticator::builder(config.build().expect("valid configuration"))
        .build()
        .expect("authenticator");
    Harness::<A>::new().await.start(authenticator).await
}

/// `GET path` until it stops answering 503 (the first key fetch may still be under way);
/// bounded.
async fn get(app: &App, path: &str, token: Option<&str>) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = app.get(path, token).await;
        if reply.status != 503 || Instant::now() > deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[track_caller]
fn assert_status(reply: &Reply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "{what}: {reply:?}");
}

fn body(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {reply:?}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn run(test: impl std::future::Future<Output = ()>) {
    runtime().block_on(async {
        tokio::time::timeout(TEST_TIMEOUT, test)
            .await
            .expect("test timed out");
    });
}

// ------------------------------------------------------------------------------------------
// node-oidc-provider
// ------------------------------------------------------------------------------------------

/// What a resource server configures for node-oidc-provider: its issuer (keys by OIDC
/// discovery), the resource indicators as audiences, RFC 9068's `typ`.
fn oidc_provider_config(op: &IssuerProcess) -> AuthConfigBuilder {
    AuthConfig::builder()
        .issuer(op.info("issuer"))
        .audiences([op.info("resource_rs256"), op.info("resource_es256")])
        .accepted_algorithms(["RS256", "ES256"])
        .require_typ("at+jwt")
}

async fn oidc_provider_on<A: Adapter>(op: &IssuerProcess, rs256: &str, es256: &str) {
    let app = start::<A>(oidc_provider_config(op)).await;
    let name = A::NAME;
    assert_status(
        &get(&app, "/api/me", None).await,
        401,
        &format!("{name}: no token"),
    );
    let wrong = format!("{rs256}x");
    assert_status(
        &get(&app, "/api/me", Some(&wrong)).await,
        401,
        &format!("{name}: a changed signature"),
    );
    for (alg, token) in [("RS256", rs256), ("ES256", es256)] {
        let reply = get(&app, "/api/me", Some(token)).await;
        assert_status(&reply, 200, &format!("{name}: {alg} at+jwt on /api/me"));
        let me = body(&reply);
        assert_eq!(me["sub"], op.info("client_id"), "{name}: {me}");
        assert_eq!(me["iss"], op.info("issuer"), "{name}: {me}");
        assert_eq!(me["roles"], json!(["reporting-service"]), "{name}: {me}");
        assert_status(
            &get(&app, "/api/reports", Some(token)).await,
            200,
            &format!("{name}: {alg}: role reporting-service"),
        );
        assert_status(
            &get(&app, "/api/admin", Some(token)).await,
            403,
            &format!("{name}: {alg}: no administrator role"),
        );
        assert_status(
            &get(&app, "/api/read", Some(token)).await,
            200,
            &format!("{name}: {alg}: scope api:read"),
        );
    }
    println!("{name}: node-oidc-provider's RS256 and ES256 at+jwt tokens accepted");
}

/// Real client-credentials `at+jwt` tokens of node-oidc-provider, RS256 and ES256, through
/// every adapter: 200 with the token (role and token-scope requirements included), 401
/// without it; refused where the audience or the type does not match.
#[test]
fn oidc_provider_at_jwt_on_every_adapter() {
    run(async {
        let op = IssuerProcess::oidc_provider();
        let rs256 = client_credentials(&op, op.info("resource_rs256"), "api:read").await;
        let es256 = client_credentials(&op, op.info("resource_es256"), "api:read").await;
        show("node-oidc-provider RS256 access token", &rs256);
        show("node-oidc-provider ES256 access token", &es256);
        let (header, payload) = decode(&rs256);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(decode(&es256).0["alg"], "ES256");
        assert_eq!(payload["aud"], op.info("resource_rs256"));
        assert_eq!(payload["scope"], "api:read");

        oidc_provider_on::<AxumApp>(&op, &rs256, &es256).await;
        oidc_provider_on::<ActixApp>(&op, &rs256, &es256).await;
        oidc_provider_on::<WarpApp>(&op, &rs256, &es256).await;

        // The same tokens where the configuration does not describe them.
        let only_rs256 = Authenticator::builder(
            AuthConfig::builder()
                .issuer(op.info("issuer"))
                .audience(op.info("resource_rs256"))
                .accepted_algorithms(["RS256", "ES256"])
                .require_typ("at+jwt")
                .build()
                .expect("configuration"),
        )
        .build()
        .expect("authenticator");
        let claims = only_rs256.verify_token(&rs256).await.expect("RS256 token");
        assert_eq!(claims.sub(), Some(op.info("client_id")));
        assert_eq!(
            only_rs256.verify_token(&es256).await.err(),
            Some(AuthError::WrongAudience)
        );
        let other_typ = Authenticator::builder(
            oidc_provider_config(&op)
                .require_typ("JWT")
                .build()
                .expect("configuration"),
        )
        .build()
        .expect("authenticator");
        assert_eq!(
            other_typ.verify_token(&rs256).await.err(),
            Some(AuthError::WrongType)
        );
    });
}

struct Apps {
    axum: App,
    actix: App,
    warp: App,
}

impl Apps {
    async fn start(config: impl Fn() -> AuthConfigBuilder) -> Self {
        Self {
            axum: start::<AxumApp>(config()).await,
            actix: start::<ActixApp>(config()).await,
            warp: start::<WarpApp>(config()).await,
        }
    }

    /// `GET /api/me` with `token` on every adapter; asserts `status` on each.
    async fn expect(&self, token: &str, status: u16, what: &str) -> Vec<Reply> {
        let mut replies = Vec::new();
        for (name, app) in [
            ("axum", &self.axum),
            ("actix", &self.actix),
            ("warp", &self.warp),
        ] {
            let reply = get(app, "/api/me", Some(token)).await;
            assert_status(&reply, status, &format!("{name}: {what}"));
            replies.push(reply);
        }
        replies
    }
}

/// Keys rotated at node-oidc-provider while the three APIs keep running.
///
/// What portcullis's key cache makes observable (README, "Keys, rotation and outages"):
/// - a token signed by a new key (unknown `kid`) is accepted at once: the unknown `kid`
///   causes a fetch (at most one per `jwks_refresh_cooldown_seconds`), long before the key
///   set's time to live (300 s here) runs out;
/// - a key dropped from the issuer's JWKS keeps verifying until the cached key set is
///   refreshed; the next refresh (here: caused by another new `kid` after the cooldown)
///   removes it, and a token it signed is refused from then on, verified-token cache
///   included;
/// - with a short time to live (1 s), the background refresh alone drops the removed key.
#[test]
fn oidc_provider_key_rotation_while_the_apis_run() {
    run(async {
        let op = IssuerProcess::oidc_provider();
        let resource = op.info("resource_rs256").to_owned();
        let config = || {
            oidc_provider_config(&op)
                .jwks_ttl_seconds(300)
                .jwks_refresh_cooldown_seconds(1)
        };
        let apps = Apps::start(config).await;

        let first = client_credentials(&op, &resource, "api:read").await;
        apps.expect(&first, 200, "a token of the first key").await;

        // Rotation: a new signing key, the first one still published.
        let state = admin(&op, "rotate").await;
        let second = client_credentials(&op, &resource, "api:read").await;
        show(
            "node-oidc-provider RS256 access token after rotation",
            &second,
        );
        assert_eq!(kid(&second), state["active"]["RS256"], "{state}");
        assert_ne!(kid(&second), kid(&first));
        apps.expect(
            &second,
            200,
            "a token of the new key, right after the rotation",
        )
        .await;
        apps.expect(&first, 200, "the first key, still published")
            .await;

        // The first key leaves the issuer's JWKS; the APIs' cached key set still has it.
        admin(&op, "drop-old").await;
        assert!(!published_kids(&op).await.contains(&kid(&first)));
        apps.expect(
            &first,
            200,
            "the dropped key, before any refresh (cached key set, TTL 300 s)",
        )
        .await;

        // Another rotation after the cooldown: its unknown kid refreshes the key set, which
        // no longer has the first key.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        admin(&op, "rotate").await;
        let third = client_credentials(&op, &resource, "api:read").await;
        apps.expect(&third, 200, "a token of the third key").await;
        for reply in apps
            .expect(&first, 401, "the dropped key, after the refresh")
            .await
        {
            reply.assert_error(&AuthError::UnknownKey);
        }
        apps.expect(&second, 200, "the second key, still published")
            .await;

        // A short time to live: the background refresh alone notices a dropped key.
        let short = start::<AxumApp>(config().jwks_ttl_seconds(1)).await;
        assert_status(
            &get(&short, "/api/me", Some(&second)).await,
            200,
            "short TTL: the second key",
        );
        admin(&op, "drop-old").await; // only the third key stays
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let reply = get(&short, "/api/me", Some(&second)).await;
            if reply.status == 401 {
                reply.assert_error(&AuthError::UnknownKey);
                break;
            }
            assert_status(&reply, 200, "short TTL: the second key until the refresh");
            assert!(
                Instant::now() < deadline,
                "the dropped key was still accepted 15 s after it left the JWKS (TTL 1 s)"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_status(
            &get(&short, "/api/me", Some(&third)).await,
            200,
            "short TTL: the third key",
        );
        apps.expect(&third, 200, "the third key, everywhere").await;
    });
}

// ------------------------------------------------------------------------------------------
// pico-auth
// ------------------------------------------------------------------------------------------

/// A user registered and logged in through pico-auth's HTTP API, and its administrator;
/// their access tokens through every adapter, configured as pico-client-auth users configure
/// it (`issuer`, `audience`, and the JWKS endpoint pico-client-auth defaults to,
/// `{issuer}/api/v1/auth/jwks`), and by OIDC discovery: pico-auth's single `role` claim
/// feeds role requirements.
#[test]
fn pico_auth_register_login_and_verify() {
    run(async {
        let pico = IssuerProcess::pico_auth();
        let issuer = pico.info("issuer").to_owned();

        let email = format!("alice-{}@example.com", std::process::id());
        let registered = post_json(
            pico.info("register"),
            &json!({"email": email, "password": "correct horse battery", "display_name": "Alice"}),
        )
        .await;
        assert!(registered.get("error").is_none(), "register: {registered}");
        assert_eq!(registered["role"], "viewer", "{registered}");
        let user_id = registered["id"].as_str().expect("user id").to_owned();

        let login = post_json(
            pico.info("login"),
            &json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
        assert!(login.get("error").is_none(), "login: {login}");
        let alice = login["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let wrong_password = post_json(
            pico.info("login"),
            &json!({"email": email, "password": "wrong"}),
        )
        .await;
        assert!(wrong_password.get("access_token").is_none());

        let admin_login = post_json(
            pico.info("login"),
            &json!({"email": pico.info("admin_email"), "password": pico.info("admin_password")}),
        )
        .await;
        let admin = admin_login["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("admin login: {admin_login}"))
            .to_owned();
        show("pico-auth access token (registered user)", &alice);
        show("pico-auth access token (administrator)", &admin);
        let (header, payload) = decode(&alice);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(payload["iss"], issuer.as_str());
        assert_eq!(payload["sub"], user_id.as_str());
        assert_eq!(payload["role"], "viewer");

        let pico_client_auth = || {
            AuthConfig::builder()
                .issuer(&issuer)
                .audience(pico.info("audience"))
                .accepted_algorithms(["RS256"])
                .jwks_endpoint(format!("{issuer}/api/v1/auth/jwks"))
        };
        let by_discovery = || {
            AuthConfig::builder()
                .issuer(&issuer)
                .audience(pico.info("audience"))
        };
        for (what, app) in [
            (
                "axum, jwks_endpoint",
                start::<AxumApp>(pico_client_auth()).await,
            ),
            (
                "actix, jwks_endpoint",
                start::<ActixApp>(pico_client_auth()).await,
            ),
            (
                "warp, jwks_endpoint",
                start::<WarpApp>(pico_client_auth()).await,
            ),
            ("axum, discovery", start::<AxumApp>(by_discovery()).await),
        ] {
            assert_status(&get(&app, "/api/me", None).await, 401, what);
            let reply = get(&app, "/api/me", Some(&alice)).await;
            assert_status(&reply, 200, &format!("{what}: the registered user"));
            let me = body(&reply);
            assert_eq!(me["sub"], user_id.as_str(), "{what}: {me}");
            assert_eq!(me["roles"], json!(["viewer"]), "{what}: {me}");
            assert_status(
                &get(&app, "/api/admin", Some(&alice)).await,
                403,
                &format!("{what}: a viewer on the administrators' route"),
            );
            let reply = get(&app, "/api/admin", Some(&admin)).await;
            assert_status(&reply, 200, &format!("{what}: the administrator"));
            let reply = get(&app, "/api/me", Some(&admin)).await;
            assert_eq!(body(&reply)["roles"], json!(["superadmin"]), "{what}");
            println!("{what}: pico-auth's tokens accepted, its role claim enforced");
        }
    });
}
