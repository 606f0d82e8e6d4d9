//! Shared fixtures: keys are generated once per test binary.
#![allow(dead_code, unreachable_pub)]

use portcullis_core::testkit::{ManualClock, TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, AuthConfigBuilder, Authenticator, StaticKeys};
use std::sync::LazyLock;

pub const ISS: &str = "https://issuer.test";
pub const AUD: &str = "api";
pub const NOW: i64 = 1_700_000_000;

pub static RSA: LazyLock<TestKey> = LazyLock::new(|| TestKey::rsa("rsa-1"));
pub static RSA2: LazyLock<TestKey> = LazyLock::new(|| TestKey::rsa("rsa-2"));
pub static EC256: LazyLock<TestKey> = LazyLock::new(|| TestKey::ec_p256("ec-256"));
pub static EC384: LazyLock<TestKey> = LazyLock::new(|| TestKey::ec_p384("ec-384"));
pub static ED: LazyLock<TestKey> = LazyLock::new(|| TestKey::ed25519("ed-1"));

/// Issuer, audience, every asymmetric algorithm allowed, no leeway.
pub fn config() -> AuthConfigBuilder {
    AuthConfig::builder()
        .issuer(ISS)
        .audience(AUD)
        .accepted_algorithms(["RS256", "PS256", "ES256", "ES384", "EdDSA"])
        .leeway_seconds(0)
}

pub fn authenticator(config: AuthConfigBuilder, keys: &[&TestKey]) -> (Authenticator, ManualClock) {
    let clock = ManualClock::new(NOW);
    let source = StaticKeys::from_jwks(&TestKey::jwks(keys)).expect("jwks");
    let auth = Authenticator::builder(config.build().expect("config"))
        .key_source(source)
        .clock(clock.clone())
        .build()
        .expect("authenticator");
    (auth, clock)
}

/// The default authenticator: all asymmetric test keys.
pub fn default_auth() -> (Authenticator, ManualClock) {
    authenticator(config(), &[&RSA, &EC256, &EC384, &ED])
}

/// A valid token: iss, aud, sub, iat = NOW, exp = NOW + 300.
pub fn token(key: &TestKey) -> TokenBuilder<'_> {
    TokenBuilder::new(key)
        .now(NOW)
        .issuer(ISS)
        .audience(AUD)
        .subject("user-123")
}

/// Unpadded base64url.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token signed by `key` over exactly these header and payload bytes.
pub fn signed_raw_bytes(key: &TestKey, header: &str, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload));
    format!("{input}.{}", b64(&key.sign(input.as_bytes())))
}

/// A token signed by `key` over exactly these header and payload texts.
pub fn signed_raw(key: &TestKey, header: &str, payload: &str) -> String {
    signed_raw_bytes(key, header, payload.as_bytes())
}

/// The JOSE header of a token signed by [`RSA`].
pub fn rs_header() -> String {
    format!(r#"{{"alg":"RS256","kid":"{}"}}"#, RSA.kid())
}

/// A valid payload for the default authenticator, with `extra` appended to its members.
pub fn payload(extra: &str) -> String {
    format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"u1","iat":{NOW},"exp":{}{extra}}}"#,
        NOW + 300
    )
}

/// Log output captured in memory: a `tracing_subscriber` writer (`.with_writer(move ||
/// buffer.clone())`) whose text a test then reads.
#[derive(Clone, Default)]
pub struct LogBuffer(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line up to `level`, with the span events `spans` names, into a buffer for this
/// thread (until the guard drops); `text()` reads it.
pub fn capture_logs(
    level: tracing::Level,
    spans: tracing_subscriber::fmt::format::FmtSpan,
) -> (LogBuffer, tracing::subscriber::DefaultGuard) {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_span_events(spans)
        .with_writer(move || writer.clone())
        .finish();
    (buffer.clone(), tracing::subscriber::set_default(subscriber))
}

impl LogBuffer {
    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A claims rule (`validate_claims`) that accepts until the returned flag is set, then
/// refuses with 403 `ClaimsRejected`: a rule that changes while tokens are cached.
pub fn switchable_rule() -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    impl Fn(&portcullis_core::TokenClaims) -> Result<(), portcullis_core::AuthError>
        + Send
        + Sync
        + 'static,
) {
    let blocked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&blocked);
    let rule = move |_: &portcullis_core::TokenClaims| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Err(portcullis_core::AuthError::ClaimsRejected { forbidden: true })
        } else {
            Ok(())
        }
    };
    (blocked, rule)
}

/// The credentials of `GET https://api.test/api/me` with `authorization` (`DPoP <token>`) and
/// one DPoP `proof`.
pub fn dpop_get_me<'a>(
    authorization: &'a str,
    proof: &'a str,
) -> portcullis_core::RequestCredentials<'a> {
    let mut credentials = portcullis_core::RequestCredentials::new(
        authorization.into(),
        portcullis_core::AuthorizationHeader::Absent,
    );
    credentials.dpop = portcullis_core::DpopRequest {
        proofs: portcullis_core::AuthorizationHeader::One(proof.as_bytes()),
        method: Some("GET"),
        path: Some("/api/me"),
        authority: Some("api.test"),
    };
    credentials
}
