//! Red-team tests of the cache-hit fast path (commit 14f012c: a hit answered without awaiting,
//! the revocation check and the full check boxed; `Caller::scope` nesting the two task-local
//! scopes through `SecurityContext::scope_as`). Every test asserts the SAFE behaviour: a token
//! served from the verified-token cache is decided exactly as the full check decides it, and
//! the scope a `Caller` installs is the one its decision says.

mod common;

use common::*;
use portcullis_core::dpop::{DpopMode, DpopProblem};
use portcullis_core::testkit::{
    Behavior, ManualClock, TestIssuer, TestKey, TokenBuilder, REVOCATION_PATH,
};
use portcullis_core::{
    AgentContext, AuthConfig, AuthConfigBuilder, AuthError, Authenticator, AuthorizationHeader,
    Caller, DpopRequest, KeySet, KeySource, KeysUnavailable, RequestCredentials, Requirement,
    SecurityContext, StaticKeys, TokenClaims, TokenSource,
};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ----- fixtures ------------------------------------------------------------------------------

/// `header` (`Bearer <token>`) verified as a request's agent token.
async fn as_agent(
    auth: &Authenticator,
    header: &str,
) -> Result<portcullis_core::AgentClaims, AuthError> {
    auth.authenticate_agent(AuthorizationHeader::from(header))
        .await
}

/// A key source whose key set the test swaps at run time (a rotation, a removal), without
/// any fetch: what a remote source's refresh does, minus the HTTP.
#[derive(Clone)]
struct SwapKeys(Arc<Mutex<Arc<dyn KeySource>>>);

impl SwapKeys {
    fn new(keys: &[&TestKey]) -> Self {
        Self(Arc::new(Mutex::new(Arc::new(static_keys(keys)))))
    }
    fn set(&self, keys: &[&TestKey]) {
        *self.0.lock().unwrap() = Arc::new(static_keys(keys));
    }
}

impl KeySource for SwapKeys {
    fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        let source = Arc::clone(&self.0.lock().unwrap());
        source.current()
    }
}

fn static_keys(keys: &[&TestKey]) -> StaticKeys {
    StaticKeys::from_jwks(&TestKey::jwks(keys)).expect("jwks")
}

fn build_with(
    config: AuthConfigBuilder,
    keys: impl KeySource,
    clock: &ManualClock,
) -> Authenticator {
    Authenticator::builder(config.build().expect("config"))
        .key_source(keys)
        .clock(clock.clone())
        .build()
        .expect("authenticator")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn request(authorization: &str) -> RequestCredentials<'_> {
    RequestCredentials::new(
        AuthorizationHeader::One(authorization.as_bytes()),
        AuthorizationHeader::Absent,
    )
}

// ----- time: a hit is answered as the full check answers, second by second -------------------

/// Two authenticators on one clock, one with the cache and one without: after the first
/// (uncached) verification, every later answer of the caching one, hit or miss, equals the
/// full check's, while the clock moves forward, back, and across every edge (exp, nbf, iat,
/// with leeway).
#[tokio::test]
async fn a_hit_answers_as_the_full_check_at_every_second() {
    const LEEWAY: i64 = 5;
    let clock = ManualClock::new(NOW);
    let cfg = || config().leeway_seconds(5);
    let cached = build_with(cfg(), static_keys(&[&ED, &RSA]), &clock);
    let full = build_with(
        cfg().cache_max_entries(0),
        static_keys(&[&ED, &RSA]),
        &clock,
    );
    let tokens = [
        token(&ED).lifetime(30).sign(),
        token(&RSA).lifetime(1).sign(),
        token(&ED).claim("nbf", json!(NOW)).lifetime(20).sign(),
        token(&ED).claim("iat", json!(NOW + 3)).lifetime(20).sign(),
        token(&ED).claim("nbf", json!(NOW + 4)).lifetime(20).sign(),
        // Fractions: exp rounded down, nbf and iat up.
        token(&ED).claim("exp", json!(NOW as f64 + 10.5)).sign(),
        token(&ED).claim("nbf", json!(NOW as f64 + 4.5)).sign(),
        token(&ED).claim("iat", json!(NOW as f64 - 0.5)).sign(),
    ];
    // The first verification fills the cache.
    for t in &tokens {
        assert_eq!(
            cached
                .verify_token(t)
                .await
                .map(|c| c.sub().map(str::to_owned)),
            full.verify_token(t)
                .await
                .map(|c| c.sub().map(str::to_owned)),
        );
    }
    assert!(cached.cached_tokens() >= 6, "{}", cached.cached_tokens());
    let mut times: Vec<i64> = (NOW - 2 * LEEWAY - 3..=NOW + 40).collect();
    // And back: a clock that steps back (NTP, a restored snapshot).
    times.extend((NOW - 15..=NOW + 12).rev());
    for now in times {
        clock.set(now);
        for (i, t) in tokens.iter().enumerate() {
            let (a, b) = (cached.verify_token(t).await, full.verify_token(t).await);
            assert_eq!(
                a.as_ref()
                    .map(|c| c.sub().map(str::to_owned))
                    .map_err(Clone::clone),
                b.as_ref()
                    .map(|c| c.sub().map(str::to_owned))
                    .map_err(Clone::clone),
                "token {i} at NOW{:+}",
                now - NOW
            );
        }
    }
}

/// The claims a hit returns are the claims the first verification returned (same subject,
/// roles, kid, algorithm, verifying issuer, raw members).
#[tokio::test]
async fn a_hit_returns_the_same_claims_as_the_first_verification() {
    let (auth, _) = default_auth();
    let t = token(&EC256)
        .roles(&["admin", "user"])
        .claim("scope", json!("read write"))
        .claim("org", json!({"id": 7}))
        .header("typ", json!("at+jwt"))
        .sign();
    let first = auth.verify_token(&t).await.unwrap();
    assert_eq!(auth.cached_tokens(), 1);
    let second = auth.verify_token(&t).await.unwrap();
    assert_eq!(first.sub(), second.sub());
    assert_eq!(first.roles(), second.roles());
    assert_eq!(first.scopes(), second.scopes());
    assert_eq!(first.key_id(), second.key_id());
    assert_eq!(first.algorithm(), second.algorithm());
    assert_eq!(first.raw(), second.raw());
    assert_eq!(first.token_type(), second.token_type());
    assert_eq!(first.verifying_issuer(), second.verifying_issuer());
    assert_eq!(first.jti(), second.jti());
    assert_eq!(first.expires_at(), second.expires_at());
}

// ----- keys: removal and rotation under the same kid -----------------------------------------

/// A cached token whose key left the key set, was replaced by another key under the same
/// `kid`, or by a key of another type under that `kid`, is refused as the full check refuses
/// it; the cache never answers for a key that is no longer the one that verified it.
#[tokio::test]
async fn a_removed_or_rotated_key_is_never_answered_from_the_cache() {
    let k1 = TestKey::ec_p256("k");
    let k1_again = TestKey::from_pkcs8("k", k1.algorithm(), &k1.private_pkcs8().unwrap()).unwrap();
    let impostor = TestKey::ec_p256("k"); // other material, same kid and type
    let rsa_k = TestKey::rsa("k"); // same kid, other type
    let other = TestKey::ec_p256("other");
    let keys = SwapKeys::new(&[&k1]);
    let clock = ManualClock::new(NOW);
    let auth = build_with(config(), keys.clone(), &clock);
    let t = token(&k1).sign();
    assert!(auth.verify_token(&t).await.is_ok());
    assert!(auth.verify_token(&t).await.is_ok());
    assert_eq!(auth.cached_tokens(), 1);

    // Removed.
    keys.set(&[&other]);
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::UnknownKey
    );
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::UnknownKey
    );
    // Rotated: another key under the same kid.
    keys.set(&[&impostor, &other]);
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::BadSignature
    );
    // Another type under the same kid.
    keys.set(&[&rsa_k]);
    assert!(auth.verify_token(&t).await.is_err());
    // Back to the original key material (a new key object): verified in full again.
    keys.set(&[&k1_again]);
    assert!(auth.verify_token(&t).await.is_ok());
    assert!(auth.verify_token(&t).await.is_ok());
    // Rotated again between two hits.
    keys.set(&[&impostor]);
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::BadSignature
    );
}

/// The gate's decision for a cached token follows the key set too (the same path as
/// `verify_token`, through `authenticate_request`).
#[tokio::test]
async fn the_gate_refuses_a_cached_token_once_its_key_is_gone() {
    let k1 = TestKey::ed25519("k");
    let keys = SwapKeys::new(&[&k1]);
    let clock = ManualClock::new(NOW);
    let auth = build_with(config(), keys.clone(), &clock);
    let t = bearer(&token(&k1).sign());
    assert!(auth.authenticate_request(request(&t)).await.is_ok());
    assert!(auth.authenticate_request(request(&t)).await.is_ok());
    keys.set(&[]);
    assert!(auth.authenticate_request(request(&t)).await.is_err());
    // Optional authentication: anonymous, not the cached caller.
    let caller = auth.authenticate_optional(request(&t)).await;
    assert!(caller.user.is_none());
}

// ----- the application's claims rule ---------------------------------------------------------

/// The rule runs on every request, hit or miss; any error it returns is answered the same way
/// on a hit as on the first verification (`ClaimsRejected`, never the rule's own error, which
/// could otherwise say e.g. 503 or "expired"); a token the rule refused is never cached.
#[tokio::test]
async fn the_rule_runs_on_every_hit_and_answers_as_on_a_miss() {
    #[derive(Clone, Copy, PartialEq)]
    enum Verdict {
        Allow,
        Forbid,
        Other,
    }
    let verdict = Arc::new(Mutex::new(Verdict::Forbid));
    let calls = Arc::new(AtomicUsize::new(0));
    let (v, c) = (Arc::clone(&verdict), Arc::clone(&calls));
    let clock = ManualClock::new(NOW);
    let auth = Authenticator::builder(config().build().unwrap())
        .key_source(static_keys(&[&ED]))
        .clock(clock.clone())
        .validate_claims(move |claims: &TokenClaims| {
            c.fetch_add(1, Ordering::SeqCst);
            assert_eq!(claims.sub(), Some("user-123"));
            match *v.lock().unwrap() {
                Verdict::Allow => Ok(()),
                Verdict::Forbid => Err(AuthError::ClaimsRejected { forbidden: true }),
                Verdict::Other => Err(AuthError::KeysUnavailable { retry_after: 9 }),
            }
        })
        .build()
        .unwrap();
    let t = token(&ED).sign();
    // Refused first: never cached.
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::ClaimsRejected { forbidden: true }
    );
    assert_eq!(auth.cached_tokens(), 0);
    *verdict.lock().unwrap() = Verdict::Other;
    let miss = auth.verify_token(&t).await.unwrap_err();
    assert_eq!(miss, AuthError::ClaimsRejected { forbidden: false });
    assert_eq!(auth.cached_tokens(), 0);
    *verdict.lock().unwrap() = Verdict::Allow;
    assert!(auth.verify_token(&t).await.is_ok());
    assert_eq!(auth.cached_tokens(), 1);
    assert!(auth.verify_token(&t).await.is_ok()); // a hit
    *verdict.lock().unwrap() = Verdict::Other;
    assert_eq!(auth.verify_token(&t).await.unwrap_err(), miss);
    assert_eq!(
        auth.authenticate_request(request(&bearer(&t)))
            .await
            .unwrap_err(),
        miss
    );
    assert!(auth
        .authenticate_optional(request(&bearer(&t)))
        .await
        .user
        .is_none());
    *verdict.lock().unwrap() = Verdict::Forbid;
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::ClaimsRejected { forbidden: true }
    );
    // Once per request: 2 refused misses, 1 fill, then 5 hits (verify_token,
    // authenticate_request, authenticate_optional, verify_token twice).
    assert_eq!(calls.load(Ordering::SeqCst), 8);
}

// ----- agent tokens: never served from, nor put into, the callers' cache ---------------------

/// A caller's token in the cache is still checked as an agent token in full when it is sent
/// as one: the agent's `typ` and required claims, its expiry.
#[tokio::test]
async fn a_cached_callers_token_is_not_an_agent_token() {
    let clock = ManualClock::new(NOW);
    let auth = build_with(
        config()
            .agent_require_typ("agent+jwt")
            .agent_required_claims(["task_type"]),
        static_keys(&[&ED]),
        &clock,
    );
    let caller = token(&ED).claim("scopes", json!(["x"])).sign();
    assert!(auth.verify_token(&caller).await.is_ok());
    assert!(auth.verify_token(&caller).await.is_ok());
    assert_eq!(auth.cached_tokens(), 1);
    let header = bearer(&caller);
    assert_eq!(
        as_agent(&auth, &header).await.unwrap_err(),
        AuthError::InvalidAgentToken
    );

    // Without `agent_require_typ`, the required agent claims still apply to the cached token.
    let auth = build_with(
        config().agent_required_claims(["task_type"]),
        static_keys(&[&ED]),
        &clock,
    );
    assert!(auth.verify_token(&caller).await.is_ok());
    assert!(auth.verify_token(&caller).await.is_ok());
    assert_eq!(
        as_agent(&auth, &header).await.unwrap_err(),
        AuthError::InvalidAgentToken
    );
}

/// An agent token is verified in full every time (never cached) and is never a caller's
/// token, however often it was verified as an agent's.
#[tokio::test]
async fn an_agent_token_is_never_cached_nor_a_callers_token() {
    let clock = ManualClock::new(NOW);
    let auth = build_with(
        config().agent_require_typ("agent+jwt"),
        static_keys(&[&ED, &EC256]),
        &clock,
    );
    let agent = token(&ED)
        .header("typ", json!("agent+jwt"))
        .claim("scopes", json!(["x"]))
        .lifetime(10)
        .sign();
    let header = bearer(&agent);
    for _ in 0..3 {
        assert!(as_agent(&auth, &header).await.is_ok());
    }
    assert_eq!(auth.cached_tokens(), 0);
    for _ in 0..2 {
        assert_eq!(
            auth.verify_token(&agent).await.unwrap_err(),
            AuthError::WrongType
        );
        assert!(auth.authenticate_request(request(&header)).await.is_err());
    }
    assert_eq!(auth.cached_tokens(), 0);
    // Every agent verification is a full one: it expires on time.
    clock.advance(10);
    assert_eq!(
        as_agent(&auth, &header).await.unwrap_err(),
        AuthError::InvalidAgentToken
    );
}

/// A cached caller's token sent as both the caller's and the agent's token (the same signed
/// part) is refused as an agent, on a hit as on the first request.
#[tokio::test]
async fn the_callers_cached_token_sent_again_as_the_agents_is_refused() {
    let (auth, _) = default_auth();
    let t = bearer(&token(&ED).claim("scopes", json!(["x"])).sign());
    for _ in 0..3 {
        let credentials = RequestCredentials::new(
            AuthorizationHeader::One(t.as_bytes()),
            AuthorizationHeader::One(t.as_bytes()),
        );
        let caller = auth.authenticate_request(credentials).await.unwrap();
        assert!(caller.agent.is_none());
        let refused = caller
            .scope(async { AgentContext::require() })
            .await
            .unwrap_err();
        assert_eq!(refused, AuthError::InvalidAgentToken);
    }
    assert_eq!(auth.cached_tokens(), 1);
}

// ----- size: the limit comes before the cache --------------------------------------------------

#[tokio::test]
async fn the_size_limit_holds_before_the_cache() {
    let clock = ManualClock::new(NOW);
    let auth = build_with(config().max_token_bytes(1024), static_keys(&[&ED]), &clock);
    let big = token(&ED).claim("pad", json!("x".repeat(1200))).sign();
    assert!(big.len() > 1024);
    for _ in 0..3 {
        assert_eq!(
            auth.verify_token(&big).await.unwrap_err(),
            AuthError::TokenTooLarge
        );
    }
    assert_eq!(auth.cached_tokens(), 0);
    // A token of exactly the limit is accepted and cached; one byte more never is.
    let fits = (0..2000)
        .map(|n| token(&ED).claim("pad", json!("y".repeat(n))).sign())
        .find(|t| t.len() == 1024 || t.len() == 1023)
        .expect("a token near the limit");
    assert!(auth.verify_token(&fits).await.is_ok());
    assert!(auth.verify_token(&fits).await.is_ok());
    assert_eq!(auth.cached_tokens(), 1);
}

// ----- DPoP: the binding is checked on every request, cached or not ---------------------------

fn dpop_request<'a>(authorization: &'a str, proof: &'a str) -> RequestCredentials<'a> {
    let mut c = RequestCredentials::new(
        AuthorizationHeader::One(authorization.as_bytes()),
        AuthorizationHeader::Absent,
    );
    c.dpop = DpopRequest {
        proofs: if proof.is_empty() {
            AuthorizationHeader::Absent
        } else {
            AuthorizationHeader::One(proof.as_bytes())
        },
        method: Some("GET"),
        path: Some("/api/me"),
        authority: Some("api.test"),
    };
    c
}

/// A DPoP-bound token in the cache still needs a new proof by its key for every request: the
/// first request's proof replayed, a proof for another token, no proof, or the Bearer scheme
/// are refused on a hit; and a token cached by `verify_token` under `dpop: required` is not a
/// bearer token for the gate.
#[tokio::test]
async fn the_binding_is_checked_on_every_hit() {
    let client = TestKey::ec_p256("client");
    let clock = ManualClock::new(NOW);
    let auth = build_with(
        config().dpop(DpopMode::Allowed),
        static_keys(&[&ED]),
        &clock,
    );
    let bound = token(&ED).bound_to(&client).sign();
    let proof = |token: &str| {
        client
            .dpop_proof("GET", "https://api.test/api/me")
            .now(NOW)
            .without_claim("exp")
            .access_token(token)
            .sign()
    };
    let dpop = format!("DPoP {bound}");
    let first = proof(&bound);
    assert!(auth
        .authenticate_request(dpop_request(&dpop, &first))
        .await
        .is_ok());
    assert_eq!(auth.cached_tokens(), 1);
    assert!(auth
        .authenticate_request(dpop_request(&dpop, &proof(&bound)))
        .await
        .is_ok());
    assert_eq!(
        auth.authenticate_request(dpop_request(&dpop, &first))
            .await
            .unwrap_err(),
        AuthError::InvalidDpopProof(DpopProblem::Replayed)
    );
    let other = token(&ED).subject("other").bound_to(&client).sign();
    assert!(auth
        .authenticate_request(dpop_request(&dpop, &proof(&other)))
        .await
        .is_err());
    assert!(auth
        .authenticate_request(dpop_request(&dpop, ""))
        .await
        .is_err());
    assert_eq!(
        auth.authenticate_request(dpop_request(&bearer(&bound), &proof(&bound)))
            .await
            .unwrap_err(),
        AuthError::DpopRequired
    );
    assert_eq!(
        auth.verify_token(&bound).await.unwrap_err(),
        AuthError::DpopRequired
    );

    // `dpop: required`: an unbound token verified (and cached) by `verify_token` is still
    // refused by the gate as a bearer token.
    let auth = build_with(
        config().dpop(DpopMode::Required),
        static_keys(&[&ED]),
        &clock,
    );
    let plain = token(&ED).sign();
    assert!(auth.verify_token(&plain).await.is_ok());
    assert!(auth.verify_token(&plain).await.is_ok());
    assert_eq!(auth.cached_tokens(), 1);
    assert_eq!(
        auth.authenticate_request(request(&bearer(&plain)))
            .await
            .unwrap_err(),
        AuthError::DpopRequired
    );
}

/// Where the token came from is the request's, not the cache's: a token first seen in
/// `Authorization` and then sent in the configured cookie is a cookie's token for the
/// `requires_authorization_header` rule.
#[tokio::test]
async fn the_tokens_source_is_the_requests_not_the_first_ones() {
    let clock = ManualClock::new(NOW);
    let auth = build_with(config().token_cookie("at"), static_keys(&[&ED]), &clock);
    let t = token(&ED).sign();
    let header = bearer(&t);
    let caller = auth.authenticate_request(request(&header)).await.unwrap();
    assert_eq!(caller.source(), Some(TokenSource::AuthorizationHeader));
    let mut cookie =
        RequestCredentials::new(AuthorizationHeader::Absent, AuthorizationHeader::Absent);
    cookie.other_token = AuthorizationHeader::One(t.as_bytes());
    cookie.other_source = Some(TokenSource::Cookie);
    let caller = auth.authenticate_request(cookie).await.unwrap();
    assert_eq!(auth.cached_tokens(), 1);
    assert_eq!(caller.source(), Some(TokenSource::Cookie));
    let refused = caller
        .scope(async {
            assert_eq!(SecurityContext::token_source(), Some(TokenSource::Cookie));
            SecurityContext::enforce(&Requirement::AuthorizationHeader)
        })
        .await;
    assert!(refused.is_err());
    assert!(auth
        .authorize_request(cookie, &Requirement::AuthorizationHeader)
        .await
        .is_err());
}

// ----- revocation on a hit --------------------------------------------------------------------

async fn eventually<F, Fut>(mut f: F) -> Result<TokenClaims, AuthError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, Result<TokenClaims, AuthError>)>,
{
    let mut last = None;
    for _ in 0..300 {
        let (done, result) = f().await;
        if done {
            return result;
        }
        last = Some(result);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    last.unwrap()
}

/// A cached token whose list went unreachable is refused (503, fail closed) on a hit as on a
/// miss; once revoked it stays revoked through the cache, for the gate too; and it never
/// comes back through the cache after a refusal.
#[tokio::test]
async fn revocation_is_checked_on_every_hit_and_fails_closed() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    let clock = ManualClock::new(NOW);
    let auth = Authenticator::builder(
        AuthConfig::builder()
            .issuer(issuer.issuer())
            .audience(AUD)
            .accepted_algorithms(["ES256"])
            .http_timeout_seconds(1)
            .revocation_endpoint(issuer.revocation_url())
            .revocation_ttl_seconds(15)
            .build()
            .unwrap(),
    )
    .clock(clock.clone())
    .build()
    .unwrap();
    let t = issuer
        .token(&k1, AUD)
        .now(NOW)
        .lifetime(3600)
        .claim("jti", json!("hit-1"))
        .sign();
    assert!(auth.verify_token(&t).await.is_ok());
    assert!(auth.verify_token(&t).await.is_ok());
    assert_eq!(auth.cached_tokens(), 1);

    // The list goes down; a poll after the TTL fails: fail closed on the hit.
    issuer.set_behavior(REVOCATION_PATH, Behavior::Status(500));
    clock.advance(16);
    let err = eventually(|| async {
        let r = auth.verify_token(&t).await;
        (r.is_err(), r)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, AuthError::RevocationUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(auth.cached_tokens(), 1, "the entry is kept, only refused");

    // Back up, with the jti revoked: revoked on the hit, through every API.
    issuer.set_behavior(REVOCATION_PATH, Behavior::Normal);
    issuer.revoke("hit-1");
    clock.advance(16);
    let err = eventually(|| async {
        let r = auth.verify_token(&t).await;
        (matches!(r, Err(AuthError::Revoked)), r)
    })
    .await
    .unwrap_err();
    assert_eq!(err, AuthError::Revoked);
    let header = bearer(&t);
    assert_eq!(
        auth.authenticate_request(request(&header))
            .await
            .unwrap_err(),
        AuthError::Revoked
    );
    assert!(auth
        .authenticate_optional(request(&header))
        .await
        .user
        .is_none());
    assert_eq!(
        auth.authorize_request(request(&header), &Requirement::Authenticated)
            .await
            .unwrap_err(),
        AuthError::Revoked
    );
    // Another token of the same key is still fine (only the jti is revoked).
    let other = issuer
        .token(&k1, AUD)
        .now(NOW)
        .lifetime(3600)
        .claim("jti", json!("hit-2"))
        .sign();
    assert!(auth.verify_token(&other).await.is_ok());
    assert!(auth.verify_token(&other).await.is_ok());
}

// ----- the scope a Caller installs ------------------------------------------------------------

/// What the handler sees, read inside the scope.
#[derive(Debug, PartialEq)]
struct Seen {
    installed: bool,
    enforcing: bool,
    sub: Option<String>,
    source: Option<TokenSource>,
    agent: Option<String>,
    admin_route: bool,
}

async fn seen() -> Seen {
    // Across an await point too: the scope is installed on every poll.
    tokio::task::yield_now().await;
    Seen {
        installed: SecurityContext::is_installed(),
        enforcing: SecurityContext::enforcing(),
        sub: SecurityContext::get().and_then(|c| c.sub().map(str::to_owned)),
        source: SecurityContext::token_source(),
        agent: AgentContext::get().and_then(|a| a.sub().map(str::to_owned)),
        admin_route: SecurityContext::enforce(&Requirement::any_role(["admin"])).is_ok(),
    }
}

/// A gate's caller, first and cached request alike: installed, enforcing, the caller and the
/// agent; a requirement the caller does not meet is refused.
#[tokio::test]
async fn an_authenticated_callers_scope_enforces_first_and_cached_alike() {
    let (auth, _) = default_auth();
    let user = bearer(&token(&ED).roles(&["user"]).sign());
    let agent = bearer(
        &token(&EC256)
            .subject("agent-7")
            .claim("scopes", json!(["x"]))
            .sign(),
    );
    let want = Seen {
        installed: true,
        enforcing: true,
        sub: Some("user-123".into()),
        source: Some(TokenSource::AuthorizationHeader),
        agent: Some("agent-7".into()),
        admin_route: false,
    };
    for _ in 0..3 {
        let credentials = RequestCredentials::new(
            AuthorizationHeader::One(user.as_bytes()),
            AuthorizationHeader::One(agent.as_bytes()),
        );
        let caller = auth.authenticate_request(credentials).await.unwrap();
        assert_eq!(caller.scope(seen()).await, want);
        // Nothing leaks out of the scope.
        assert!(!SecurityContext::is_installed());
        assert!(AgentContext::get().is_none());
    }
    assert_eq!(auth.cached_tokens(), 1);
}

/// Optional authentication installs an enforcing context: an anonymous caller (no token, an
/// invalid one, one refused by the rule) is refused by every requirement, never let through
/// as a disabled gate's caller would be.
#[tokio::test]
async fn an_anonymous_callers_scope_still_enforces() {
    let (auth, clock) = default_auth();
    let t = bearer(&token(&ED).lifetime(10).roles(&["admin"]).sign());
    let admin = auth.authenticate_optional(request(&t)).await;
    assert!(admin.scope(seen()).await.admin_route);
    let anonymous = Seen {
        installed: true,
        enforcing: true,
        sub: None,
        source: None,
        agent: None,
        admin_route: false,
    };
    clock.advance(10); // the cached token expires
    for credentials in [
        request(&t),
        request("Bearer nope"),
        RequestCredentials::new(AuthorizationHeader::Absent, AuthorizationHeader::Absent),
    ] {
        let caller = auth.authenticate_optional(credentials).await;
        assert_eq!(caller.scope(seen()).await, anonymous);
    }
    // `Caller::new` and `Caller::default`, built by hand, enforce too.
    assert_eq!(Caller::default().scope(seen()).await, anonymous);
    assert!(Caller::new(None, None).scope(seen()).await.enforcing);
}

/// Only a gate whose authentication is disabled installs a non-enforcing context, and it is
/// anonymous even when a valid token is sent.
#[tokio::test]
async fn only_a_disabled_gate_installs_a_non_enforcing_scope() {
    let clock = ManualClock::new(NOW);
    let auth = build_with(config().enabled(false), static_keys(&[&ED]), &clock);
    let t = bearer(&token(&ED).roles(&["admin"]).sign());
    let want = Seen {
        installed: true,
        enforcing: false,
        sub: None,
        source: None,
        agent: None,
        admin_route: true,
    };
    for _ in 0..2 {
        let caller = auth.authenticate_request(request(&t)).await.unwrap();
        assert!(caller.user.is_none());
        assert_eq!(caller.scope(seen()).await, want);
        let caller = auth.authenticate_optional(request(&t)).await;
        assert_eq!(caller.scope(seen()).await, want);
        let caller = auth
            .authorize_request(request(&t), &Requirement::any_role(["admin"]))
            .await
            .unwrap();
        assert_eq!(caller.scope(seen()).await, want);
    }
}

/// The scope is installed while the future is polled, also when it is polled again after a
/// pending poll, and the inner future sees both contexts in the same poll (they are nested,
/// not installed one after the other).
#[tokio::test]
async fn both_contexts_are_installed_on_every_poll_and_removed_after() {
    let (auth, _) = default_auth();
    let user = bearer(&token(&ED).sign());
    let agent = bearer(&token(&EC256).subject("agent-1").sign());
    let credentials = RequestCredentials::new(
        AuthorizationHeader::One(user.as_bytes()),
        AuthorizationHeader::One(agent.as_bytes()),
    );
    let caller = auth.authenticate_request(credentials).await.unwrap();
    let polls = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicBool::new(false));
    let (p, b) = (Arc::clone(&polls), Arc::clone(&bad));
    let inner = std::future::poll_fn(move |cx| {
        let n = p.fetch_add(1, Ordering::SeqCst);
        let ok = SecurityContext::get().and_then(|c| c.sub().map(str::to_owned))
            == Some("user-123".into())
            && AgentContext::get().and_then(|a| a.sub().map(str::to_owned))
                == Some("agent-1".into())
            && SecurityContext::enforcing();
        if !ok {
            b.store(true, Ordering::SeqCst);
        }
        if n < 3 {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    });
    let scoped = caller.scope(inner);
    // Between polls, outside: nothing installed.
    let mut scoped = std::pin::pin!(scoped);
    std::future::poll_fn(|cx| {
        let r = std::future::Future::poll(scoped.as_mut(), cx);
        assert!(!SecurityContext::is_installed());
        assert!(AgentContext::get().is_none());
        r
    })
    .await;
    assert_eq!(polls.load(Ordering::SeqCst), 4);
    assert!(!bad.load(Ordering::SeqCst));
}

// ----- logs: no token, hit or miss ------------------------------------------------------------

/// At trace level, with span fields and span events, neither a hit nor a miss nor a refusal of
/// a cached token prints the token or its signature; the hit is logged as accepted and cached.
#[test]
fn a_hit_logs_no_token() {
    use tracing_subscriber::fmt::format::FmtSpan;
    let (buffer, _guard) = capture_logs(tracing::Level::TRACE, FmtSpan::FULL);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = runtime.block_on(async {
        let clock = ManualClock::new(NOW);
        let (blocked, rule) = switchable_rule();
        let auth = Authenticator::builder(config().build().unwrap())
            .key_source(static_keys(&[&ED]))
            .clock(clock.clone())
            .validate_claims(rule)
            .build()
            .unwrap();
        let t = TokenBuilder::new(&ED)
            .now(NOW)
            .issuer(ISS)
            .audience(AUD)
            .subject("logged-sub")
            .sign();
        assert!(auth.verify_token(&t).await.is_ok());
        assert!(auth.verify_token(&t).await.is_ok());
        assert!(auth
            .authenticate_request(request(&bearer(&t)))
            .await
            .is_ok());
        blocked.store(true, Ordering::SeqCst);
        assert!(auth.verify_token(&t).await.is_err());
        t
    });
    let logs = buffer.text();
    let signature = t.rsplit('.').next().unwrap();
    let payload = t.split('.').nth(1).unwrap();
    assert!(!logs.contains(signature), "{logs}");
    assert!(!logs.contains(payload), "{logs}");
    assert!(logs.contains("portcullis.verify"), "{logs}");
    assert!(logs.contains("logged-sub"), "{logs}");
    assert!(logs.contains("cached=true"), "{logs}");
}
