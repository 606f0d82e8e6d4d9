//! The adapter trait, the test issuer and keys, and a small HTTP client.

use portcullis_core::testkit::{ManualClock, TestIssuer, TestKey, TokenBuilder};
use portcullis_core::{
    AuthConfig, AuthConfigBuilder, AuthError, Authenticator, AuthenticatorBuilder, Clock,
    SystemClock,
};
use std::marker::PhantomData;
use std::sync::LazyLock;

/// The audience of the reference application.
pub const AUDIENCE: &str = "conformance-api";

/// What an adapter does for the suite: serve the reference application.
pub trait Adapter: 'static {
    /// The adapter's name (`axum`, `actix`, `warp`, ...).
    const NAME: &'static str;

    /// Serves the reference application with `authenticator` on `listener` (bound to
    /// `127.0.0.1:0`, non-blocking) until the returned [`Server`] is dropped. Called inside
    /// a tokio runtime.
    fn serve(authenticator: Authenticator, listener: std::net::TcpListener) -> Server;
}

/// A running server; dropping it stops the server.
pub struct Server(std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Server {
    /// A server stopped by `stop`.
    pub fn new(stop: impl FnOnce() + Send + 'static) -> Self {
        Self(std::sync::Mutex::new(Some(Box::new(stop))))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let stop = self.0.get_mut().ok().and_then(Option::take);
        if let Some(stop) = stop {
            stop();
        }
    }
}

/// The suite's keys, generated once per test binary.
pub struct Keys {
    /// Published by the issuer (RS256).
    pub rsa: TestKey,
    /// Published by the issuer (ES256).
    pub ec: TestKey,
    /// Published by the issuer (EdDSA, which the default configuration does not accept).
    pub ed: TestKey,
    /// Published only by rotation scenarios.
    pub rotated: TestKey,
    /// Never published: an attacker's key.
    pub attacker: TestKey,
    /// Never published: a client's DPoP key (P-256), which bound tokens name.
    pub client: TestKey,
}

/// The suite's keys.
pub static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    rsa: TestKey::rsa("rsa-1"),
    ec: TestKey::ec_p256("ec-1"),
    ed: TestKey::ed25519("ed-1"),
    rotated: TestKey::rsa("rsa-rotated"),
    attacker: TestKey::rsa("attacker"),
    client: TestKey::ec_p256("client"),
});

/// A scenario's world: a test issuer, a clock, and a way to start the adapter.
pub struct Harness<A> {
    /// The issuer (discovery, JWKS, revocation list) on `127.0.0.1:0`.
    pub issuer: TestIssuer,
    /// The clock of every authenticator the harness builds and every token it mints.
    pub clock: ManualClock,
    client: reqwest::Client,
    _adapter: PhantomData<A>,
}

impl<A: Adapter> Harness<A> {
    /// A harness whose issuer publishes the RSA, EC and Ed25519 keys.
    pub async fn new() -> Self {
        let issuer = TestIssuer::start(&[&KEYS.rsa, &KEYS.ec, &KEYS.ed]).await;
        Self {
            issuer,
            clock: ManualClock::new(SystemClock.now_unix()),
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("HTTP client"),
            _adapter: PhantomData,
        }
    }

    /// The default configuration: this issuer (by OIDC discovery), [`AUDIENCE`], RS256 and
    /// ES256, 1 s HTTP timeout.
    pub fn config(&self) -> AuthConfigBuilder {
        AuthConfig::builder()
            .issuer(self.issuer.issuer())
            .audience(AUDIENCE)
            .accepted_algorithms(["RS256", "ES256"])
            .http_timeout_seconds(1)
    }

    /// An authenticator builder for `config`, on the harness clock.
    ///
    /// # Panics
    /// If the configuration is invalid.
    pub fn authenticator(&self, config: AuthConfigBuilder) -> AuthenticatorBuilder {
        Authenticator::builder(config.build().expect("valid configuration"))
            .clock(self.clock.clone())
    }

    /// Starts the adapter's reference application with `authenticator`.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(&self, authenticator: Authenticator) -> App {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("address");
        let base = format!("http://{addr}");
        let server = A::serve(authenticator, listener);
        let app = App {
            base,
            addr,
            client: self.client.clone(),
            _server: server,
        };
        app.wait_until_up().await;
        app
    }

    /// Starts the reference application with the default configuration.
    ///
    /// # Panics
    /// If the authenticator cannot be built.
    pub async fn app(&self) -> App {
        self.start(
            self.authenticator(self.config())
                .build()
                .expect("authenticator"),
        )
        .await
    }

    /// A valid token of this issuer for [`AUDIENCE`]: `sub` `user-123`, `email`, `org_id`.
    pub fn token<'k>(&self, key: &'k TestKey) -> TokenBuilder<'k> {
        self.issuer
            .token(key, AUDIENCE)
            .now(self.clock.now())
            .subject("user-123")
            .claim("email", serde_json::json!("user@example.com"))
            .claim("org_id", serde_json::json!("org-1"))
    }

    /// A signed RSA token with these roles.
    pub fn with_roles(&self, roles: &[&str]) -> String {
        self.token(&KEYS.rsa).roles(roles).sign()
    }
}

/// A running reference application.
pub struct App {
    base: String,
    addr: std::net::SocketAddr,
    client: reqwest::Client,
    _server: Server,
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body, as text.
    pub body: String,
    /// `WWW-Authenticate`, if any.
    pub www_authenticate: Option<String>,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
}

impl Reply {
    /// Asserts that this is exactly the core's answer to `error`: status, body and
    /// `WWW-Authenticate`.
    ///
    /// # Panics
    /// When it is not.
    #[track_caller]
    pub fn assert_error(&self, error: &AuthError) {
        let expected = error.to_response();
        assert_eq!(
            self.status, expected.status,
            "status for {error:?}: {self:?}"
        );
        assert_eq!(self.body, expected.body, "body for {error:?}");
        assert_eq!(
            self.www_authenticate, expected.www_authenticate,
            "WWW-Authenticate for {error:?}"
        );
    }

    /// Asserts that this is exactly `answer` (an authenticator's
    /// [`error_response`](portcullis_core::Authenticator::error_response), DPoP challenges
    /// included): status, body, `WWW-Authenticate` and `Retry-After`.
    ///
    /// # Panics
    /// When it is not.
    #[track_caller]
    pub fn assert_answer(&self, answer: &portcullis_core::ErrorResponse) {
        assert_eq!(
            (
                self.status,
                self.body.as_str(),
                self.www_authenticate.as_deref(),
                self.retry_after.clone()
            ),
            (
                answer.status,
                answer.body.as_str(),
                answer.www_authenticate.as_deref(),
                answer.retry_after.map(|s| s.to_string())
            ),
            "{self:?}"
        );
    }

    /// Asserts status and exact body.
    ///
    /// # Panics
    /// When they differ.
    #[track_caller]
    pub fn assert_ok(&self, body: &str) {
        assert_eq!((self.status, self.body.as_str()), (200, body), "{self:?}");
    }
}

impl App {
    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The server's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// A request builder for `path`.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Sends a request and reads the answer.
    ///
    /// # Panics
    /// On a transport error.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let www_authenticate = header("www-authenticate");
        let retry_after = header("retry-after");
        let status = response.status().as_u16();
        Reply {
            status,
            body: response.text().await.expect("body"),
            www_authenticate,
            retry_after,
        }
    }

    /// `GET path`, with `Authorization: Bearer <token>` when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.request(reqwest::Method::GET, path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(request).await
    }

    async fn wait_until_up(&self) {
        for _ in 0..200 {
            if self
                .client
                .get(format!("{}/api/health", self.base))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the reference application did not start");
    }
}
