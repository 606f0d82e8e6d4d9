//! A local issuer over real HTTP on `127.0.0.1:0`: OIDC discovery, JWKS and the revocation
//! list for test-kit keys, with run-time controls for every failure a key set can have.

use super::key::TestKey;
use super::token::TokenBuilder;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// Paths the test issuer serves.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// The key-set path (pico-auth's).
pub const JWKS_PATH: &str = "/api/v1/auth/jwks";
/// The revocation-list path.
pub const REVOCATION_PATH: &str = "/api/v1/auth/revoked";
/// The development token endpoint (see [`TestIssuer::serve_tokens`]).
pub const TOKEN_PATH: &str = "/dev/token";

/// How the issuer answers, set per path or for all paths.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behavior {
    /// The real document.
    Normal,
    /// This HTTP status with an empty body.
    Status(u16),
    /// `200` with a body that is not JSON.
    Garbage,
    /// `200` with a body of this many bytes.
    Oversized(usize),
    /// The real document after this delay.
    Slow(Duration),
    /// Hold every answer until [`TestIssuer::release`].
    Hold,
    /// Close every connection without answering.
    RefuseConnections,
    /// `302 Found` to this location.
    Redirect(String),
}

#[derive(Default)]
struct State {
    keys: Vec<Value>,
    revoked: BTreeSet<String>,
    discovery_issuer: Option<String>,
    jwks_uri: Option<String>,
    behavior: HashMap<String, Behavior>,
    default_behavior: Option<Behavior>,
    max_age: Option<u64>,
    etag: bool,
    requests: HashMap<String, usize>,
    authorization: HashMap<String, Option<String>>,
    minter: Option<Arc<(TestKey, String)>>,
}

/// A running test issuer; it stops when dropped.
pub struct TestIssuer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    release: Arc<Notify>,
    _stop: watch::Sender<()>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl TestIssuer {
    /// Starts an issuer on `127.0.0.1:0` serving `keys`.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Self::start_on(listener, keys)
    }

    /// Starts an issuer on a listener you bound (a fixed loopback port for a development
    /// setup, say).
    ///
    /// # Panics
    /// If the listener has no local address.
    pub fn start_on(listener: TcpListener, keys: &[&TestKey]) -> Self {
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            keys: keys.iter().map(|k| k.jwk()).collect(),
            etag: true,
            ..State::default()
        }));
        let release = Arc::new(Notify::new());
        let (stop, mut stopped) = watch::channel(());
        let issuer = format!("http://{addr}");
        let (st, rel) = (Arc::clone(&state), Arc::clone(&release));
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stopped.changed() => break,
                };
                let Ok((stream, _)) = accepted else { continue };
                let refuse = {
                    let s = lock(&st);
                    s.default_behavior == Some(Behavior::RefuseConnections)
                };
                if refuse {
                    lock(&st)
                        .requests
                        .entry("(refused)".into())
                        .and_modify(|n| *n += 1)
                        .or_insert(1);
                    drop(stream);
                    continue;
                }
                let (st, rel, issuer) = (Arc::clone(&st), Arc::clone(&rel), issuer.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (st, rel, issuer) = (Arc::clone(&st), Arc::clone(&rel), issuer.clone());
                        async move {
                            Ok::<_, std::convert::Infallible>(answer(req, &st, &rel, &issuer).await)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Self {
            addr,
            state,
            release,
            _stop: stop,
        }
    }

    /// The issuer URL (`http://127.0.0.1:PORT`), equal to the `iss` of its tokens.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The key-set URL.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.issuer())
    }
    /// The revocation-list URL.
    pub fn revocation_url(&self) -> String {
        format!("{}{REVOCATION_PATH}", self.issuer())
    }
    /// The development token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.issuer())
    }

    /// Serves a DEVELOPMENT token endpoint at [`TOKEN_PATH`]: `GET` with the query
    /// parameters `sub`, `roles` (comma-separated), `scope` and `ttl` (seconds, default
    /// 3600) answers `{"access_token": ..., "token_type": "Bearer", "expires_in": ...}`, a
    /// token signed by `key` for `audience`. Anyone who can reach the issuer can mint
    /// tokens: for a development machine only. Its key must be among the published ones.
    pub fn serve_tokens(&self, key: TestKey, audience: &str) {
        lock(&self.state).minter = Some(Arc::new((key, audience.to_owned())));
    }
    /// A token builder for `key` with this issuer's `iss` and the given audience.
    pub fn token<'k>(&self, key: &'k TestKey, audience: &str) -> TokenBuilder<'k> {
        TokenBuilder::new(key)
            .issuer(&self.issuer())
            .audience(audience)
    }

    /// Publishes another key (rotation).
    pub fn add_key(&self, key: &TestKey) {
        lock(&self.state).keys.push(key.jwk());
    }
    /// Publishes a raw JWK (hostile or unusable keys).
    pub fn add_raw_jwk(&self, jwk: Value) {
        lock(&self.state).keys.push(jwk);
    }
    /// Stops publishing the key with this `kid`.
    pub fn remove_key(&self, kid: &str) {
        lock(&self.state).keys.retain(|k| k["kid"] != kid);
    }
    /// Replaces the published keys.
    pub fn set_keys(&self, keys: &[&TestKey]) {
        lock(&self.state).keys = keys.iter().map(|k| k.jwk()).collect();
    }
    /// Revokes a `jti`.
    pub fn revoke(&self, jti: &str) {
        lock(&self.state).revoked.insert(jti.to_owned());
    }
    /// Un-revokes a `jti`.
    pub fn unrevoke(&self, jti: &str) {
        lock(&self.state).revoked.remove(jti);
    }
    /// Makes the discovery document name another issuer (`None`: the real one).
    pub fn set_discovery_issuer(&self, issuer: Option<&str>) {
        lock(&self.state).discovery_issuer = issuer.map(str::to_owned);
    }
    /// Makes the discovery document point at another `jwks_uri` (`None`: the real one).
    pub fn set_jwks_uri(&self, uri: Option<&str>) {
        lock(&self.state).jwks_uri = uri.map(str::to_owned);
    }
    /// Sets the behaviour of one path.
    pub fn set_behavior(&self, path: &str, behavior: Behavior) {
        lock(&self.state).behavior.insert(path.to_owned(), behavior);
    }
    /// Sets the behaviour of every path (`Normal` clears per-path settings too).
    pub fn set_behavior_all(&self, behavior: Behavior) {
        let mut s = lock(&self.state);
        if behavior == Behavior::Normal {
            s.behavior.clear();
            s.default_behavior = None;
        } else {
            s.default_behavior = Some(behavior);
        }
    }
    /// Lets every held answer go (see [`Behavior::Hold`]) and stops holding.
    pub fn release(&self) {
        {
            let mut s = lock(&self.state);
            s.behavior.retain(|_, b| *b != Behavior::Hold);
            if s.default_behavior == Some(Behavior::Hold) {
                s.default_behavior = None;
            }
        }
        self.release.notify_waiters();
    }
    /// Sends `Cache-Control: max-age=N` with the key set.
    pub fn set_max_age(&self, seconds: Option<u64>) {
        lock(&self.state).max_age = seconds;
    }
    /// Whether the key set carries an `ETag` (on by default).
    pub fn set_etag(&self, on: bool) {
        lock(&self.state).etag = on;
    }
    /// Requests received on `path` (answered or not; `"(refused)"` counts refused connections).
    pub fn requests(&self, path: &str) -> usize {
        lock(&self.state).requests.get(path).copied().unwrap_or(0)
    }
    /// Requests received on any path.
    pub fn total_requests(&self) -> usize {
        lock(&self.state).requests.values().sum()
    }
    /// The `Authorization` header of the last request on `path`.
    pub fn last_authorization(&self, path: &str) -> Option<String> {
        lock(&self.state).authorization.get(path).cloned().flatten()
    }
}

async fn answer(
    req: Request<Incoming>,
    state: &Mutex<State>,
    release: &Notify,
    issuer: &str,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let if_none_match = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let behavior = {
        let mut s = lock(state);
        *s.requests.entry(path.clone()).or_insert(0) += 1;
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        s.authorization.insert(path.clone(), auth);
        s.behavior
            .get(&path)
            .cloned()
            .or_else(|| s.default_behavior.clone())
            .unwrap_or(Behavior::Normal)
    };
    match behavior {
        Behavior::Hold => {
            // Poll as well as wait: a release that lands before we wait is not missed.
            while is_held(state, &path) {
                tokio::select! {
                    () = release.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
        }
        Behavior::Slow(d) => tokio::time::sleep(d).await,
        Behavior::Status(code) => return respond(code, Bytes::new(), &[]),
        Behavior::Garbage => return respond(200, Bytes::from_static(b"<html>not json"), &[]),
        Behavior::Oversized(n) => return respond(200, Bytes::from(vec![b' '; n]), &[]),
        Behavior::Redirect(to) => return respond(302, Bytes::new(), &[("location", to)]),
        Behavior::Normal | Behavior::RefuseConnections => {}
    }
    let s = lock(state).clone_documents();
    match path.as_str() {
        DISCOVERY_PATH => {
            let mut doc = json!({
                "issuer": s.discovery_issuer.unwrap_or_else(|| issuer.to_owned()),
                "jwks_uri": s.jwks_uri.unwrap_or_else(|| format!("{issuer}{JWKS_PATH}")),
                "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
            });
            if s.minter.is_some() {
                doc["token_endpoint"] = json!(format!("{issuer}{TOKEN_PATH}"));
            }
            respond(200, Bytes::from(doc.to_string()), &[])
        }
        TOKEN_PATH => match &s.minter {
            Some(minter) => mint(minter, issuer, req.uri().query().unwrap_or_default()),
            None => respond(404, Bytes::new(), &[]),
        },
        JWKS_PATH => {
            let body = json!({ "keys": s.keys }).to_string();
            let etag = format!("\"{:x}\"", fnv(body.as_bytes()));
            let mut headers = Vec::new();
            if s.etag {
                if if_none_match.as_deref() == Some(etag.as_str()) {
                    return respond(304, Bytes::new(), &[("etag", etag)]);
                }
                headers.push(("etag", etag));
            }
            if let Some(age) = s.max_age {
                headers.push(("cache-control", format!("max-age={age}")));
            }
            respond(200, Bytes::from(body), &headers)
        }
        REVOCATION_PATH => {
            let items: Vec<Value> = s.revoked.iter().map(|j| json!({ "jti": j })).collect();
            respond(200, Bytes::from(json!({ "items": items }).to_string()), &[])
        }
        _ => respond(404, Bytes::new(), &[]),
    }
}

fn is_held(state: &Mutex<State>, path: &str) -> bool {
    let s = lock(state);
    s.behavior.get(path).or(s.default_behavior.as_ref()) == Some(&Behavior::Hold)
}

struct Documents {
    keys: Vec<Value>,
    revoked: BTreeSet<String>,
    discovery_issuer: Option<String>,
    jwks_uri: Option<String>,
    max_age: Option<u64>,
    etag: bool,
    minter: Option<Arc<(TestKey, String)>>,
}

impl State {
    fn clone_documents(&self) -> Documents {
        Documents {
            keys: self.keys.clone(),
            revoked: self.revoked.clone(),
            discovery_issuer: self.discovery_issuer.clone(),
            jwks_uri: self.jwks_uri.clone(),
            max_age: self.max_age,
            etag: self.etag,
            minter: self.minter.clone(),
        }
    }
}

/// A development token for the query `sub=..&roles=a,b&scope=..&ttl=..`.
fn mint(minter: &(TestKey, String), issuer: &str, query: &str) -> Response<Full<Bytes>> {
    let (key, audience) = minter;
    let param = |name: &str| {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| v.replace('+', " ").replace("%2C", ",").replace("%20", " "))
        })
    };
    let ttl = param("ttl")
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(3600)
        .clamp(1, 86_400);
    let mut builder = super::TokenBuilder::new(key)
        .issuer(issuer)
        .audience(audience)
        .subject(&param("sub").unwrap_or_else(|| "dev-user".to_owned()))
        .lifetime(ttl);
    if let Some(roles) = param("roles") {
        let roles: Vec<&str> = roles.split(',').filter(|r| !r.is_empty()).collect();
        builder = builder.roles(&roles);
    }
    if let Some(scope) = param("scope") {
        builder = builder.claim("scope", json!(scope));
    }
    let body = json!({
        "access_token": builder.sign(),
        "token_type": "Bearer",
        "expires_in": ttl,
    });
    respond(200, Bytes::from(body.to_string()), &[])
}

fn respond(status: u16, body: Bytes, headers: &[(&str, String)]) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// FNV-1a, for a stable `ETag`.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
