//! Red-team tests for DPoP (RFC 9449), from the outside: an attacker holding a stolen
//! DPoP-bound token, captured proofs, or a valid unbound token of their own. Every test asserts
//! the SAFE behaviour: it passes while the library holds, and fails where a hole was found.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use portcullis_core::dpop::{
    access_token_hash, verify_proof, DpopMode, DpopProblem, MemoryReplayStore, ProofPolicy,
    ProofRequest, ReplayFuture, ReplayKey, ReplayStore,
};
use portcullis_core::testkit::{ManualClock, TestKey, TokenBuilder};
use portcullis_core::{
    AuthConfig, AuthConfigBuilder, AuthError, Authenticator, AuthorizationHeader, Caller,
    DpopRequest, RequestCredentials, Requirement, StaticKeys, TokenSource,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ISS: &str = "https://issuer.test";
const NOW: i64 = 1_700_000_000;
const HTU: &str = "https://api.test/api/me";

// ----- set-up (after auth-core/tests/dpop.rs) --------------------------------------------

struct Setup {
    issuer: TestKey,
    client: TestKey,
    clock: ManualClock,
    auth: Authenticator,
}

fn setup(mode: DpopMode) -> Setup {
    setup_with(mode, |b| b, None)
}

fn setup_with(
    mode: DpopMode,
    more: impl FnOnce(AuthConfigBuilder) -> AuthConfigBuilder,
    store: Option<Arc<dyn ReplayStore>>,
) -> Setup {
    setup_full(mode, more, |_| store)
}

fn setup_full(
    mode: DpopMode,
    more: impl FnOnce(AuthConfigBuilder) -> AuthConfigBuilder,
    store: impl FnOnce(&ManualClock) -> Option<Arc<dyn ReplayStore>>,
) -> Setup {
    let issuer = TestKey::rsa("issuer-1");
    let client = TestKey::ec_p256("client");
    let clock = ManualClock::new(NOW);
    let config = more(
        AuthConfig::builder()
            .issuer(ISS)
            .audience("api")
            .dpop(mode)
            .leeway_seconds(5),
    )
    .build()
    .unwrap();
    let mut builder = Authenticator::builder(config)
        .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[&issuer])).unwrap())
        .clock(clock.clone());
    if let Some(store) = store(&clock) {
        builder = builder.replay_store(SharedStore(store));
    }
    Setup {
        auth: builder.build().unwrap(),
        issuer,
        client,
        clock,
    }
}

struct SharedStore(Arc<dyn ReplayStore>);

impl ReplayStore for SharedStore {
    fn first_use<'s>(&'s self, key: &'s ReplayKey, ttl: Duration) -> ReplayFuture<'s> {
        self.0.first_use(key, ttl)
    }
}

/// A replay store that lives on the authenticator's (manual) clock: an entry recorded at
/// `now` with `ttl` is forgotten once the clock reads `now + ttl` (the earliest a real store
/// could forget it), so the window arithmetic can be attacked second by second.
struct ClockStore {
    clock: ManualClock,
    seen: Mutex<HashMap<[u8; 32], i64>>,
}

impl ReplayStore for ClockStore {
    fn first_use<'s>(&'s self, key: &'s ReplayKey, ttl: Duration) -> ReplayFuture<'s> {
        let now = self.clock.now();
        let mut seen = self.seen.lock().unwrap();
        let fresh = match seen.get(key.digest()) {
            Some(expiry) if *expiry > now => false,
            _ => {
                seen.insert(*key.digest(), now + i64::try_from(ttl.as_secs()).unwrap());
                true
            }
        };
        Box::pin(std::future::ready(Ok(fresh)))
    }
}

/// One request as an adapter would hand it to the core.
#[derive(Clone, Copy)]
struct Req<'a> {
    authorization: AuthorizationHeader<'a>,
    agent: AuthorizationHeader<'a>,
    other: AuthorizationHeader<'a>,
    other_source: Option<TokenSource>,
    proofs: AuthorizationHeader<'a>,
    method: Option<&'a str>,
    path: Option<&'a str>,
    authority: Option<&'a str>,
}

impl<'a> Req<'a> {
    fn new(authorization: &'a str, proof: &'a str) -> Self {
        Self {
            authorization: AuthorizationHeader::One(authorization.as_bytes()),
            agent: AuthorizationHeader::Absent,
            other: AuthorizationHeader::Absent,
            other_source: None,
            proofs: AuthorizationHeader::One(proof.as_bytes()),
            method: Some("GET"),
            path: Some("/api/me"),
            authority: Some("api.test"),
        }
    }
    fn credentials(self) -> RequestCredentials<'a> {
        let mut c = RequestCredentials::new(self.authorization, self.agent);
        c.other_token = self.other;
        c.other_source = self.other_source;
        c.dpop = DpopRequest {
            proofs: self.proofs,
            method: self.method,
            path: self.path,
            authority: self.authority,
        };
        c
    }
}

impl Setup {
    fn token(&self) -> TokenBuilder<'_> {
        TokenBuilder::new(&self.issuer)
            .now(self.clock.now())
            .issuer(ISS)
            .audience("api")
            .subject("user-1")
    }
    fn bound_token(&self) -> String {
        self.token().bound_to(&self.client).sign()
    }
    fn proof_for(&self, token: &str, method: &str, htu: &str) -> TokenBuilder<'_> {
        self.client
            .dpop_proof(method, htu)
            .now(self.clock.now())
            .without_claim("exp")
            .access_token(token)
    }
    fn proof(&self, token: &str) -> TokenBuilder<'_> {
        self.proof_for(token, "GET", HTU)
    }
    /// What the gate decides, then the `requires_dpop` marker on the admitted caller.
    async fn gate(&self, req: Req<'_>) -> Result<Caller, AuthError> {
        self.auth.authenticate_request(req.credentials()).await
    }
    async fn dpop_route(&self, req: Req<'_>) -> Result<(), AuthError> {
        let caller = self.gate(req).await?;
        Requirement::Dpop.check(caller.user.as_ref())
    }
    async fn call(&self, authorization: &str, proof: &str) -> Result<(), AuthError> {
        self.dpop_route(Req::new(authorization, proof)).await
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A proof whose header and claims are these exact JSON texts, signed by `key` with its own
/// algorithm (escapes, duplicate members and other things serde would not write).
fn raw_proof(key: &TestKey, header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = key.sign_as(key.algorithm(), input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// The client's public JWK members as JSON text fragments (`"kty":"EC",...`), without `kid`,
/// `alg`, `use`.
fn jwk_members(key: &TestKey) -> String {
    let mut jwk = key.jwk();
    let o = jwk.as_object_mut().unwrap();
    for m in ["kid", "alg", "use"] {
        o.remove(m);
    }
    let text = Value::Object(o.clone()).to_string();
    text[1..text.len() - 1].to_owned()
}

fn claims_text(token: &str, jti: &str) -> String {
    json!({"jti": jti, "htm": "GET", "htu": HTU, "iat": NOW, "ath": access_token_hash(token)})
        .to_string()
}

fn is_replay_refusal(r: &Result<(), AuthError>) -> bool {
    matches!(
        r,
        Err(AuthError::InvalidDpopProof(
            DpopProblem::Replayed | DpopProblem::IssuedAt
        ))
    )
}

// ----- (a) a stolen bound token, no key ----------------------------------------------------

#[tokio::test]
async fn stolen_bound_token_is_refused_through_every_bearer_like_channel() {
    let s = setup_with(
        DpopMode::Allowed,
        |b| b.token_cookie("at").token_header("x-token"),
        None,
    );
    let bound = s.bound_token();
    let proof = s.proof(&bound).sign();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let authorization = format!("{scheme} {bound}");
        assert_eq!(
            s.call(&authorization, &proof).await,
            Err(AuthError::DpopRequired),
            "{scheme}"
        );
    }
    // From the configured cookie or header, with a perfectly valid proof next to it.
    for source in [TokenSource::Cookie, TokenSource::Header, TokenSource::Query] {
        let mut req = Req::new("", &proof);
        req.authorization = AuthorizationHeader::Absent;
        req.other = AuthorizationHeader::One(bound.as_bytes());
        req.other_source = Some(source);
        assert_eq!(
            s.dpop_route(req).await,
            Err(AuthError::DpopRequired),
            "{source:?}"
        );
    }
    // `Authorization: DPoP` plus the token again in a cookie: two tokens, one request.
    let dpop = format!("DPoP {bound}");
    let mut req = Req::new(&dpop, &proof);
    req.other = AuthorizationHeader::One(bound.as_bytes());
    req.other_source = Some(TokenSource::Cookie);
    assert_eq!(s.dpop_route(req).await, Err(AuthError::InvalidRequest));
    // The custom header carrying `DPoP <token>` is a bare-token source, not a DPoP one.
    let mut req = Req::new("", &proof);
    req.authorization = AuthorizationHeader::Absent;
    req.other = AuthorizationHeader::One(dpop.as_bytes());
    req.other_source = Some(TokenSource::Header);
    assert!(s.dpop_route(req).await.is_err());
    // And the proof was never spent by any of the above: it still works once.
    assert_eq!(s.call(&dpop, &proof).await, Ok(()));
}

#[tokio::test]
async fn stolen_bound_token_is_refused_by_the_token_only_apis_even_after_being_cached() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    // The legitimate client uses it: verified and cached.
    assert_eq!(s.call(&dpop, &s.proof(&bound).sign()).await, Ok(()));
    assert_eq!(s.call(&dpop, &s.proof(&bound).sign()).await, Ok(()));
    // The thief, with the cached token and no key.
    let bearer = format!("Bearer {bound}");
    assert_eq!(s.call(&bearer, "").await, Err(AuthError::DpopRequired));
    assert_eq!(
        s.auth.verify_token(&bound).await.unwrap_err(),
        AuthError::DpopRequired
    );
    assert_eq!(
        s.auth.authenticate(bearer.as_str()).await.unwrap_err(),
        AuthError::DpopRequired
    );
    assert!(s.auth.authenticate(dpop.as_str()).await.is_err());
    // `authorize` sees the `Authorization` header only: no request to check a proof against.
    assert!(s
        .auth
        .authorize(dpop.as_str(), &Requirement::Authenticated)
        .await
        .is_err());
    assert!(s
        .auth
        .authorize(bearer.as_str(), &Requirement::Authenticated)
        .await
        .is_err());
    // `authenticate_credentials` without the request parts.
    let c = RequestCredentials::new(dpop.as_str().into(), AuthorizationHeader::Absent);
    assert!(s.auth.authenticate_credentials(&c).await.is_err());
    // With the DPoP scheme and no proof, an empty one, or garbage.
    for proofs in [
        AuthorizationHeader::Absent,
        AuthorizationHeader::One(b""),
        AuthorizationHeader::One(b" "),
        AuthorizationHeader::One(b"null"),
        AuthorizationHeader::One(b"..."),
        AuthorizationHeader::One(b"\xff\xfe"),
        AuthorizationHeader::Several,
    ] {
        let mut req = Req::new(&dpop, "");
        req.proofs = proofs;
        assert!(
            matches!(s.dpop_route(req).await, Err(AuthError::InvalidDpopProof(_))),
            "{proofs:?}"
        );
    }
}

#[tokio::test]
async fn stolen_bound_token_with_a_proof_by_the_thiefs_own_key_is_refused() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    for thief in [
        TestKey::ec_p256("thief"),
        TestKey::ec_p384("thief"),
        TestKey::ed25519("thief"),
        TestKey::rsa("thief"),
    ] {
        let proof = thief
            .dpop_proof("GET", HTU)
            .now(NOW)
            .access_token(&bound)
            .sign();
        assert_eq!(
            s.call(&dpop, &proof).await,
            Err(AuthError::InvalidDpopProof(DpopProblem::Thumbprint)),
            "{:?}",
            thief.algorithm()
        );
        // The victim's jwk in the header, signed by the thief: the signature fails.
        let proof = thief
            .dpop_proof("GET", HTU)
            .now(NOW)
            .access_token(&bound)
            .header("jwk", s.client.jwk())
            .sign();
        assert!(
            matches!(
                s.call(&dpop, &proof).await,
                Err(AuthError::InvalidDpopProof(
                    DpopProblem::Signature | DpopProblem::Key
                ))
            ),
            "{:?}",
            thief.algorithm()
        );
    }
    // The victim's jwk, header alg `none`, HS256 keyed by the thumbprint or by x.
    let ok = || s.proof(&bound);
    for proof in [
        ok().unsigned("none").sign(),
        ok().unsigned("None").sign(),
        ok().unsigned("ES256").sign(),
        ok().hmac_with_secret(
            portcullis_core::Algorithm::HS256,
            s.client.thumbprint().as_bytes(),
        )
        .sign(),
        ok().signature_bytes(vec![0; 64]).sign(),
        ok().signature_bytes(vec![0xff; 64]).sign(),
        ok().signature_bytes(Vec::new()).sign(),
    ] {
        assert!(
            matches!(
                s.call(&dpop, &proof).await,
                Err(AuthError::InvalidDpopProof(_))
            ),
            "{proof}"
        );
    }
}

#[tokio::test]
async fn jwk_smuggling_is_refused() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    let jwk = jwk_members(&s.client);
    let claims = |jti: &str| claims_text(&bound, jti);
    let header =
        |jwk_text: &str| format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{{jwk_text}}}}}"#);
    // Sanity: the raw builder makes an acceptable proof.
    assert_eq!(
        s.call(&dpop, &raw_proof(&s.client, &header(&jwk), &claims("ok")))
            .await,
        Ok(())
    );

    let other = TestKey::ec_p256("other");
    let other_jwk = jwk_members(&other);
    let other_x = other.jwk()["x"].as_str().unwrap().to_owned();
    let real_x = s.client.jwk()["x"].as_str().unwrap().to_owned();
    let cases: Vec<(&str, String, &[DpopProblem])> = vec![
        (
            "escaped private member d",
            header(&format!(r#"{jwk},"\u0064":"c2VjcmV0""#)),
            &[DpopProblem::PrivateKey, DpopProblem::Malformed],
        ),
        (
            "oth",
            header(&format!(r#"{jwk},"oth":[]"#)),
            &[DpopProblem::PrivateKey],
        ),
        (
            "d null",
            header(&format!(r#"{jwk},"d":null"#)),
            &[DpopProblem::PrivateKey],
        ),
        (
            "duplicate x, attacker's last",
            header(&format!(r#"{jwk},"x":"{other_x}""#)),
            &[DpopProblem::Malformed],
        ),
        (
            "duplicate x spelled with an escape",
            header(&format!(r#"{jwk},"\u0078":"{real_x}""#)),
            &[DpopProblem::Malformed],
        ),
        (
            "two jwk members, the other key's first",
            format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{{other_jwk}}},"jwk":{{{jwk}}}}}"#),
            &[DpopProblem::Malformed],
        ),
        (
            "jwk alg disagrees with header alg",
            header(&format!(r#"{jwk},"alg":"ES384""#)),
            &[DpopProblem::Key],
        ),
        (
            "jwk use enc",
            header(&format!(r#"{jwk},"use":"enc""#)),
            &[DpopProblem::Key],
        ),
        (
            "jwk key_ops sign only",
            header(&format!(r#"{jwk},"key_ops":["sign"]"#)),
            &[DpopProblem::Key],
        ),
        (
            "jwk nested in jwk",
            format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{"jwk":{{{jwk}}}}}}}"#),
            &[DpopProblem::Key],
        ),
        (
            "jwk as a string",
            format!(
                r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{}}}"#,
                serde_json::to_string(&format!("{{{jwk}}}")).unwrap()
            ),
            &[DpopProblem::Key],
        ),
        (
            "jku instead of jwk",
            r#"{"typ":"dpop+jwt","alg":"ES256","jku":"https://evil.test/jwks"}"#.to_owned(),
            &[DpopProblem::Key],
        ),
        (
            "crit empty",
            format!(r#"{{"typ":"dpop+jwt","alg":"ES256","crit":[],"jwk":{{{jwk}}}}}"#),
            &[DpopProblem::Type],
        ),
        (
            "typ with a space",
            format!(r#"{{"typ":"dpop+jwt ","alg":"ES256","jwk":{{{jwk}}}}}"#),
            &[DpopProblem::Type],
        ),
        (
            "typ as array",
            format!(r#"{{"typ":["dpop+jwt"],"alg":"ES256","jwk":{{{jwk}}}}}"#),
            &[DpopProblem::Type],
        ),
        (
            "duplicate typ",
            format!(r#"{{"typ":"JWT","typ":"dpop+jwt","alg":"ES256","jwk":{{{jwk}}}}}"#),
            &[DpopProblem::Malformed],
        ),
        (
            "alg es256 lower case",
            format!(r#"{{"typ":"dpop+jwt","alg":"es256","jwk":{{{jwk}}}}}"#),
            &[DpopProblem::Algorithm],
        ),
    ];
    for (name, h, allowed) in cases {
        let outcome = s
            .call(&dpop, &raw_proof(&s.client, &h, &claims(name)))
            .await;
        assert!(
            matches!(&outcome, Err(AuthError::InvalidDpopProof(p)) if allowed.contains(p)),
            "{name}: {outcome:?}"
        );
    }
    // Duplicate claims: htu for another path, then ours (or the reverse).
    for dup in [
        format!(
            r#"{{"jti":"dup1","htm":"GET","htu":"https://api.test/api/admin","htu":"{HTU}","iat":{NOW},"ath":"{}"}}"#,
            access_token_hash(&bound)
        ),
        format!(
            r#"{{"jti":"dup2","htm":"POST","htm":"GET","htu":"{HTU}","iat":{NOW},"ath":"{}"}}"#,
            access_token_hash(&bound)
        ),
        format!(
            r#"{{"jti":"dup3","\u006a\u0074\u0069":"dup3b","htm":"GET","htu":"{HTU}","iat":{NOW},"ath":"{}"}}"#,
            access_token_hash(&bound)
        ),
    ] {
        let outcome = s
            .call(&dpop, &raw_proof(&s.client, &header(&jwk), &dup))
            .await;
        assert_eq!(
            outcome,
            Err(AuthError::InvalidDpopProof(DpopProblem::Malformed)),
            "{dup}"
        );
    }
}

#[test]
fn weak_and_mismatched_proof_keys_are_refused_by_verify_proof() {
    let request = ProofRequest {
        method: "GET",
        path: "/api/me",
        authority: Some("api.test"),
        access_token: None,
        thumbprint: None,
    };
    let policy = ProofPolicy::default();
    let claims = json!({"jti": "j", "htm": "GET", "htu": HTU, "iat": NOW}).to_string();
    let forged = |alg: &str, jwk: Value, sig: &[u8]| {
        let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk}).to_string();
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(claims.as_bytes()),
            b64(sig)
        )
    };
    // Ed25519 small-order key (the identity point) with the "universal" signature R = identity,
    // S = 0: verifies every message on a lax verifier.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut sig = identity.to_vec();
    sig.extend_from_slice(&[0; 32]);
    for x in [identity, [0; 32]] {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x)});
        assert!(verify_proof(&forged("EdDSA", jwk, &sig), &request, &policy, NOW).is_err());
    }
    // RSA with a 512-bit modulus, and with an even one, and an absurd exponent.
    let mut n = vec![0xc3u8; 64];
    n[63] = 0x01;
    for (n, e) in [
        (n.clone(), vec![1, 0, 1]),
        (vec![0xc2; 256], vec![1, 0, 1]),
        (
            {
                let mut n = vec![0xc3u8; 256];
                n[255] = 0x01;
                n
            },
            vec![0xff; 512],
        ),
        (
            {
                let mut n = vec![0xc3u8; 256];
                n[255] = 0x01;
                n
            },
            vec![1],
        ),
    ] {
        let jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)});
        assert!(verify_proof(&forged("RS256", jwk, &[1; 256]), &request, &policy, NOW).is_err());
    }
    // A P-384 key signing ES384 while the header says ES256, and the reverse.
    let p384 = TestKey::ec_p384("p384");
    let proof = p384
        .dpop_proof("GET", HTU)
        .now(NOW)
        .header_alg("ES256")
        .sign();
    assert_eq!(
        verify_proof(&proof, &request, &policy, NOW).unwrap_err(),
        DpopProblem::Key
    );
    let p256 = TestKey::ec_p256("p256");
    let proof = p256
        .dpop_proof("GET", HTU)
        .now(NOW)
        .header_alg("ES384")
        .sign();
    assert_eq!(
        verify_proof(&proof, &request, &policy, NOW).unwrap_err(),
        DpopProblem::Key
    );
    // An RSA key's PKCS#1 signature under a PS256 header.
    let rsa = TestKey::rsa("rsa");
    let proof = rsa
        .dpop_proof("GET", HTU)
        .now(NOW)
        .header_alg("PS256")
        .sign();
    assert_eq!(
        verify_proof(&proof, &request, &policy, NOW).unwrap_err(),
        DpopProblem::Signature
    );
    // A point not on the curve.
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])});
    assert_eq!(
        verify_proof(&forged("ES256", jwk, &[1; 64]), &request, &policy, NOW).unwrap_err(),
        DpopProblem::Key
    );
}

// ----- (b) captured proofs ------------------------------------------------------------------

#[tokio::test]
async fn a_captured_proof_is_refused_for_another_method_path_host_or_token() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    let proof = s.proof(&bound).sign();
    let refused = |r: Result<(), AuthError>| matches!(r, Err(AuthError::InvalidDpopProof(_)));
    for method in ["POST", "get", "HEAD", "GET ", " GET", "OPTIONS"] {
        let mut req = Req::new(&dpop, &proof);
        req.method = Some(method);
        assert!(refused(s.dpop_route(req).await), "{method}");
    }
    // A second token of the same holder (stolen too): `ath` names the first one.
    let second = s
        .token()
        .subject("user-1")
        .claim("n", json!(2))
        .bound_to(&s.client)
        .sign();
    assert_eq!(
        s.call(&format!("DPoP {second}"), &proof).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::TokenHash))
    );
    // Unused so far: the victim's own request still goes through, once.
    assert_eq!(s.call(&dpop, &proof).await, Ok(()));
    assert_eq!(
        s.call(&dpop, &proof).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::Replayed))
    );
}

#[tokio::test]
async fn htu_normalisation_tricks_do_not_move_a_proof_to_another_url() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    // (htu in the proof, path the request was sent to, authority of the request)
    let refused: &[(&str, &str, Option<&str>)] = &[
        ("https://api.test/api%2Fme", "/api/me", Some("api.test")),
        ("https://api.test/api/me", "/api%2Fme", Some("api.test")),
        ("https://api.test/api/me", "/api%2fme", Some("api.test")),
        ("https://api.test/api/me", "//api/me", Some("api.test")),
        ("https://api.test//api/me", "/api/me", Some("api.test")),
        ("https://api.test/api/me/", "/api/me", Some("api.test")),
        ("https://api.test/api/me", "/api/me/", Some("api.test")),
        ("https://api.test/api/me", "/API/me", Some("api.test")),
        ("https://api.test/api/me", "/api/me;x", Some("api.test")),
        ("https://api.test/api/me", "/api/me%00", Some("api.test")),
        ("https://api.test/api/me", "/api/me%20", Some("api.test")),
        ("https://api.test/api/me", "/api/./me", Some("api.test")),
        (
            "https://api.test/api/me",
            "/api/admin/../me",
            Some("api.test"),
        ),
        (
            "https://api.test/api/me",
            "/api/admin/%2e%2e/me",
            Some("api.test"),
        ),
        (
            "https://api.test/api/me",
            "/api/admin/%2E%2E%2Fme",
            Some("api.test"),
        ),
        (
            "https://api.test/api/admin/../me",
            "/api/admin",
            Some("api.test"),
        ),
        ("https://api.test/api/me", "api/me", Some("api.test")),
        ("https://api.test/api/me", "*", Some("api.test")),
        (
            "https://api.test/api/me",
            "https://api.test/api/me",
            Some("api.test"),
        ),
        // Host and port.
        ("https://api.test:8443/api/me", "/api/me", Some("api.test")),
        ("https://api.test/api/me", "/api/me", Some("api.test:8443")),
        ("https://api.test/api/me", "/api/me", Some("api.test:80")),
        ("http://api.test/api/me", "/api/me", Some("api.test:443")),
        ("https://api.test/api/me", "/api/me", Some("api.test.")),
        ("https://api.test./api/me", "/api/me", Some("api.test")),
        ("https://api.test/api/me", "/api/me", Some("user@api.test")),
        ("https://api.test/api/me", "/api/me", Some("evil.test")),
        (
            "https://api.test/api/me",
            "/api/me",
            Some("api.test.evil.test"),
        ),
        (
            "https://api.test/api/me",
            "/api/me",
            Some("evil.test:443@api.test"),
        ),
        (
            "https://api.test/api/me",
            "/api/me",
            Some("api.test, evil.test"),
        ),
        (
            "https://api.test/api/me",
            "/api/me",
            Some("api.test:443:443"),
        ),
        ("https://api.test/api/me", "/api/me", Some("")),
        ("https://api.test/api/me", "/api/me", None),
        ("https://[::1]/api/me", "/api/me", Some("::1")),
        ("https://[::1]:8443/api/me", "/api/me", Some("[::2]:8443")),
        // Hostile htu spellings.
        (
            "https://api.test@evil.test/api/me",
            "/api/me",
            Some("evil.test"),
        ),
        (
            "https://api.test:x@evil.test/api/me",
            "/api/me",
            Some("evil.test"),
        ),
        (
            "https://evil.test/api/me#@api.test",
            "/api/me",
            Some("api.test"),
        ),
        (
            "https://evil.test\\@api.test/api/me",
            "/api/me",
            Some("api.test"),
        ),
        (
            "https://api.test%2Eevil.test/api/me",
            "/api/me",
            Some("api.test"),
        ),
        ("//api.test/api/me", "/api/me", Some("api.test")),
        ("/api/me", "/api/me", Some("api.test")),
        ("api.test/api/me", "/api/me", Some("api.test")),
        ("wss://api.test/api/me", "/api/me", Some("api.test")),
        ("file:///api/me", "/api/me", Some("api.test")),
        ("data:,https://api.test/api/me", "/api/me", Some("api.test")),
        ("", "/api/me", Some("api.test")),
    ];
    for (htu, path, authority) in refused {
        let proof = s.proof_for(&bound, "GET", htu).sign();
        let mut req = Req::new(&dpop, &proof);
        req.path = Some(path);
        req.authority = *authority;
        assert_eq!(
            s.dpop_route(req).await,
            Err(AuthError::InvalidDpopProof(DpopProblem::Uri)),
            "htu {htu:?} for {authority:?} {path:?}"
        );
    }
    // What is the same URL (RFC 3986 §6.2.2, §6.2.3) is accepted.
    let same: &[(&str, &str, Option<&str>)] = &[
        (
            "https://api.test/api/me?x=1#frag",
            "/api/me",
            Some("api.test"),
        ),
        ("https://api.test/api/me", "/api/me", Some("API.TEST")),
        ("https://api.test/api/me", "/api/me", Some("api.test:443")),
        ("https://api.test:443/api/me", "/api/me", Some("api.test")),
        ("HTTPS://API.TEST/api/me", "/api/me", Some("api.test")),
        ("https://api.test/api/me", "/api/%6De", Some("api.test")),
        ("https://api.test/api/%6d%65", "/api/me", Some("api.test")),
        ("https://[::1]:8443/api/me", "/api/me", Some("[::1]:8443")),
        // An empty path is `/` (RFC 3986 §6.2.3); HTTP never sends one anyway.
        ("https://api.test/", "", Some("api.test")),
        ("https://api.test", "/", Some("api.test")),
    ];
    for (htu, path, authority) in same {
        let proof = s.proof_for(&bound, "GET", htu).sign();
        let mut req = Req::new(&dpop, &proof);
        req.path = Some(path);
        req.authority = *authority;
        assert_eq!(
            s.dpop_route(req).await,
            Ok(()),
            "htu {htu:?} for {authority:?} {path:?}"
        );
    }
}

#[tokio::test]
async fn with_configured_origins_the_host_header_cannot_vouch_for_another_origin() {
    let s = setup_with(
        DpopMode::Allowed,
        |b| b.dpop_origins(["https://api.test"]),
        None,
    );
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    for (htu, authority) in [
        ("https://evil.test/api/me", "evil.test"),
        ("http://api.test/api/me", "api.test"),
        ("https://api.test:8443/api/me", "api.test:8443"),
        ("https://api.test.evil.test/api/me", "api.test.evil.test"),
    ] {
        let proof = s.proof_for(&bound, "GET", htu).sign();
        let mut req = Req::new(&dpop, &proof);
        req.authority = Some(authority);
        assert_eq!(
            s.dpop_route(req).await,
            Err(AuthError::InvalidDpopProof(DpopProblem::Uri)),
            "{htu}"
        );
    }
    // Reached through a proxy on an internal name: the public origin counts.
    let proof = s.proof(&bound).sign();
    let mut req = Req::new(&dpop, &proof);
    req.authority = Some("10.0.0.7:8080");
    assert_eq!(s.dpop_route(req).await, Ok(()));
}

#[tokio::test]
async fn one_jti_is_one_use_whatever_the_method_path_or_encoding() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    let first = s.proof(&bound).claim("jti", json!("once")).sign();
    assert_eq!(s.call(&dpop, &first).await, Ok(()));
    // The same jti, same key, for another method and path: a replay.
    let other = s
        .proof_for(&bound, "POST", "https://api.test/api/other")
        .claim("jti", json!("once"))
        .sign();
    let mut req = Req::new(&dpop, &other);
    req.method = Some("POST");
    req.path = Some("/api/other");
    assert_eq!(
        s.dpop_route(req).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::Replayed))
    );
    // The same jti at another (still fresh) time.
    let later = s
        .proof(&bound)
        .claim("jti", json!("once"))
        .claim("iat", json!(NOW - 3))
        .sign();
    assert_eq!(
        s.call(&dpop, &later).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::Replayed))
    );
    // The same jti with a fractional iat.
    let frac = s
        .proof(&bound)
        .claim("jti", json!("once"))
        .claim("iat", json!(NOW as f64 + 0.5))
        .sign();
    assert_eq!(
        s.call(&dpop, &frac).await,
        Err(AuthError::InvalidDpopProof(DpopProblem::Replayed))
    );
    // A captured proof re-encoded: padded or standard base64 segments are not base64url.
    let mut parts = first.split('.');
    let (h, p, sig) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    for variant in [
        format!("{h}.{p}.{}", URL_SAFE.encode(&sig_bytes)),
        format!("{h}.{p}.{}", STANDARD.encode(&sig_bytes)),
        format!("{h}.{p}.{sig}="),
        format!("{h}.{p}.{sig}.",),
        format!(" {first}"),
        format!("{first} "),
        format!("{h}.{p}.{sig}\n"),
    ] {
        assert!(s.call(&dpop, &variant).await.is_err(), "{variant}");
    }
}

/// P-256 group order.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn sub_be(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    out
}

#[tokio::test]
async fn a_captured_proof_with_a_malleated_ecdsa_signature_is_still_a_replay() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    let proof = s.proof(&bound).sign();
    assert_eq!(s.call(&dpop, &proof).await, Ok(()));
    // (r, s) -> (r, n - s): the same signed input, a second valid signature.
    let (input, sig) = proof.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let mut malleated = sig[..32].to_vec();
    malleated.extend_from_slice(&sub_be(&P256_N, &sig[32..]));
    let twin = format!("{input}.{}", b64(&malleated));
    assert_ne!(twin, proof);
    let outcome = s.call(&dpop, &twin).await;
    assert!(
        matches!(
            outcome,
            Err(AuthError::InvalidDpopProof(
                DpopProblem::Replayed | DpopProblem::Signature
            ))
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_captured_proof_cannot_be_replayed_at_any_second_of_its_window() {
    // iat at the far future edge, now, the far past edge, and fractional values near both.
    for iat in [
        json!(NOW + 5),
        json!(NOW),
        json!(NOW - 65),
        json!(NOW as f64 + 4.5),
        json!(NOW as f64 - 64.5),
        json!(NOW as f64 + 4.999),
    ] {
        let s = setup_full(
            DpopMode::Allowed,
            |b| b,
            |clock| {
                Some(Arc::new(ClockStore {
                    clock: clock.clone(),
                    seen: Mutex::new(HashMap::new()),
                }) as Arc<dyn ReplayStore>)
            },
        );
        let token = s.token().lifetime(3600).bound_to(&s.client).sign();
        let dpop = format!("DPoP {token}");
        let proof = s.proof(&token).claim("iat", iat.clone()).sign();
        assert_eq!(s.call(&dpop, &proof).await, Ok(()), "first use, iat {iat}");
        for _ in 0..80 {
            s.clock.advance(1);
            let again = s.call(&dpop, &proof).await;
            assert!(
                is_replay_refusal(&again),
                "iat {iat}, at now+{}: {again:?}",
                s.clock.now() - NOW
            );
        }
    }
}

#[tokio::test]
async fn iat_values_outside_the_window_or_not_numbers_are_refused() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    for iat in [
        json!(1e300),
        json!(-1e300),
        json!(-1),
        json!(0),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(NOW + 5)
            .as_i64()
            .map(|v| json!(v as f64 + 0.001))
            .unwrap(),
        json!(NOW - 66),
        json!(NOW as f64 - 65.5),
        json!(-0.0),
        json!(format!("{NOW}")),
        json!(true),
        json!(null),
        json!([NOW]),
        json!({"$numberLong": NOW}),
    ] {
        let proof = s.proof(&bound).claim("iat", iat.clone()).sign();
        assert!(
            matches!(
                s.call(&dpop, &proof).await,
                Err(AuthError::InvalidDpopProof(
                    DpopProblem::IssuedAt | DpopProblem::Claims
                ))
            ),
            "{iat}"
        );
    }
    // A number literal serde cannot hold as f64 exactly (but does parse).
    let jwk = jwk_members(&s.client);
    let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{{jwk}}}}}"#);
    for iat in [
        "1e400",
        "17000000000000000000000000",
        "1700000000e0",
        "0.17e10",
    ] {
        let claims = format!(
            r#"{{"jti":"iat-{iat}","htm":"GET","htu":"{HTU}","iat":{iat},"ath":"{}"}}"#,
            access_token_hash(&bound)
        );
        let outcome = s.call(&dpop, &raw_proof(&s.client, &header, &claims)).await;
        // `1700000000e0` and `0.17e10` are NOW itself: fine either way, never a panic.
        if iat.starts_with('1') && iat.len() > 12 || iat == "1e400" {
            assert!(outcome.is_err(), "{iat}: {outcome:?}");
        }
    }
}

#[tokio::test]
async fn jti_bounds_hold_in_bytes() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    let ok = |jti: String| s.proof(&bound).claim("jti", json!(jti)).sign();
    assert_eq!(s.call(&dpop, &ok("a".repeat(256))).await, Ok(()));
    assert_eq!(s.call(&dpop, &ok("😀".repeat(64))).await, Ok(()));
    for jti in ["a".repeat(257), "😀".repeat(65), "é".repeat(129)] {
        assert_eq!(
            s.call(&dpop, &ok(jti)).await,
            Err(AuthError::InvalidDpopProof(DpopProblem::Claims))
        );
    }
    for jti in [
        json!(""),
        json!(null),
        json!(["x"]),
        json!({"a": 1}),
        json!(1),
    ] {
        let proof = s.proof(&bound).claim("jti", jti.clone()).sign();
        assert_eq!(
            s.call(&dpop, &proof).await,
            Err(AuthError::InvalidDpopProof(DpopProblem::Claims)),
            "{jti}"
        );
    }
}

#[tokio::test]
async fn ath_must_be_exactly_the_base64url_sha256_of_the_token() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    let digest = URL_SAFE_NO_PAD.decode(access_token_hash(&bound)).unwrap();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    for ath in [
        json!(URL_SAFE.encode(&digest)),
        json!(STANDARD.encode(&digest)),
        json!(format!("{} ", access_token_hash(&bound))),
        json!(access_token_hash(&bound).to_uppercase()),
        json!(hex),
        json!(access_token_hash(&dpop)),
        json!(access_token_hash(&format!("Bearer {bound}"))),
        json!(access_token_hash(bound.rsplit_once('.').unwrap().0)),
        json!(""),
        json!(null),
        json!([access_token_hash(&bound)]),
    ] {
        let proof = s.proof(&bound).claim("ath", ath.clone()).sign();
        assert_eq!(
            s.call(&dpop, &proof).await,
            Err(AuthError::InvalidDpopProof(DpopProblem::TokenHash)),
            "{ath}"
        );
    }
}

// ----- scheme parsing -------------------------------------------------------------------

#[tokio::test]
async fn dpop_scheme_spellings_and_header_counts() {
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    for authorization in [
        format!("DPoP\t{bound}"),
        format!("DPoP{bound}"),
        format!("DPoP: {bound}"),
        format!("DPoP-{bound}"),
        "DPoP".to_owned(),
        "DPoP ".to_owned(),
        format!("DPoP {bound} {bound}"),
        format!("DPoP {bound},"),
        format!("DPoP {bound}, Bearer {bound}"),
        format!("Bearer DPoP {bound}"),
        format!("DPoP Bearer {bound}"),
        format!("DPoP\u{a0}{bound}"),
        format!("ＤPoP {bound}"),
    ] {
        let proof = s.proof(&bound).sign();
        let outcome = s.call(&authorization, &proof).await;
        assert!(outcome.is_err(), "{authorization:?}: admitted");
    }
    // Two Authorization headers (the DPoP one and a copy): refused, not "the first one".
    let dpop = format!("DPoP {bound}");
    let proof = s.proof(&bound).sign();
    let mut req = Req::new(&dpop, &proof);
    req.authorization = AuthorizationHeader::Several;
    assert_eq!(s.dpop_route(req).await, Err(AuthError::InvalidRequest));
    // Several spaces after the scheme are RFC 7235's 1*SP: fine.
    assert_eq!(s.call(&format!("DPoP   {bound}"), &proof).await, Ok(()));
}

#[tokio::test]
async fn off_mode_gives_nothing_to_a_dpop_request() {
    let s = setup(DpopMode::Off);
    let bound = s.bound_token();
    let plain = s.token().sign();
    let proof = s.proof(&bound).sign();
    assert_eq!(
        s.call(&format!("DPoP {bound}"), &proof).await,
        Err(AuthError::MissingToken)
    );
    let proof = s.proof(&plain).sign();
    assert_eq!(
        s.call(&format!("DPoP {plain}"), &proof).await,
        Err(AuthError::MissingToken)
    );
    assert_eq!(
        s.call(&format!("Bearer {bound}"), &proof).await,
        Err(AuthError::DpopRequired)
    );
    // An unbound bearer gets through the gate but never past `requires_dpop`.
    assert_eq!(
        s.call(&format!("Bearer {plain}"), "").await,
        Err(AuthError::DpopRequired)
    );
}

// ----- (c) the attacker's own unbound token ------------------------------------------------

#[tokio::test]
async fn an_unbound_token_never_satisfies_requires_dpop() {
    let s = setup_with(DpopMode::Allowed, |b| b.token_cookie("at"), None);
    let attacker = TestKey::ec_p256("attacker");
    // `cnf` variants an issuer might sign that are not a DPoP binding.
    let variants = [
        s.token().sign(),
        s.token().claim("cnf", json!({})).sign(),
        s.token().claim("cnf", json!({"jkt": ""})).sign(),
        s.token().claim("cnf", json!(null)).sign(),
        s.token().claim("cnf", json!({"jkt": null})).sign(),
        s.token().claim("cnf", json!({"jkt": 1})).sign(),
        s.token()
            .claim("cnf", json!({"jwk": attacker.jwk()}))
            .sign(),
        s.token()
            .claim("cnf", json!([{"jkt": attacker.thumbprint()}]))
            .sign(),
        s.token().claim("cnf", json!(attacker.thumbprint())).sign(),
        s.token()
            .claim("CNF", json!({"jkt": attacker.thumbprint()}))
            .sign(),
        s.token().claim("jkt", json!(attacker.thumbprint())).sign(),
    ];
    for (i, token) in variants.iter().enumerate() {
        let proof = attacker
            .dpop_proof("GET", HTU)
            .now(NOW)
            .access_token(token)
            .sign();
        for authorization in [format!("DPoP {token}"), format!("Bearer {token}")] {
            let outcome = s.call(&authorization, &proof).await;
            assert!(
                outcome.is_err(),
                "variant {i} as {authorization:.8}: admitted"
            );
        }
        let mut req = Req::new("", &proof);
        req.authorization = AuthorizationHeader::Absent;
        req.other = AuthorizationHeader::One(token.as_bytes());
        req.other_source = Some(TokenSource::Cookie);
        assert!(s.dpop_route(req).await.is_err(), "variant {i} as cookie");
    }
    // With an agent: the marker looks at the caller, not the agent.
    let agent_bound = s.token().subject("agent").bound_to(&s.client).sign();
    let bearer = format!("Bearer {}", variants[0]);
    let agent_header = format!("Bearer {agent_bound}");
    let mut req = Req::new(&bearer, "");
    req.agent = AuthorizationHeader::One(agent_header.as_bytes());
    let outcome = s
        .auth
        .authorize_request(
            req.credentials(),
            &Requirement::Dpop.and(Requirement::Authenticated),
        )
        .await;
    assert!(outcome.is_err(), "{outcome:?}");
}

#[tokio::test]
async fn required_mode_cannot_be_bypassed_through_other_sources_or_public_routes() {
    let s = setup_with(
        DpopMode::Required,
        |b| b.token_cookie("at").token_header("x-token"),
        None,
    );
    let plain = s.token().sign();
    let bound = s.bound_token();
    let proof = s.proof(&bound).sign();
    for source in [TokenSource::Cookie, TokenSource::Header, TokenSource::Query] {
        for token in [&plain, &bound] {
            let mut req = Req::new("", &proof);
            req.authorization = AuthorizationHeader::Absent;
            req.other = AuthorizationHeader::One(token.as_bytes());
            req.other_source = Some(source);
            assert_eq!(
                s.gate(req).await.map(|_| ()),
                Err(AuthError::DpopRequired),
                "{source:?}"
            );
        }
    }
    let bearer = format!("Bearer {plain}");
    assert_eq!(
        s.gate(Req::new(&bearer, "")).await.map(|_| ()),
        Err(AuthError::DpopRequired)
    );
    // A public route: no refusal, but no user either.
    for authorization in [format!("Bearer {plain}"), format!("Bearer {bound}")] {
        let caller = s
            .auth
            .authorize_request(
                Req::new(&authorization, "").credentials(),
                &Requirement::Anonymous,
            )
            .await
            .unwrap();
        assert!(caller.user.is_none(), "{authorization:.12}");
    }
    let mut req = Req::new("", "");
    req.authorization = AuthorizationHeader::Absent;
    req.other = AuthorizationHeader::One(plain.as_bytes());
    req.other_source = Some(TokenSource::Cookie);
    let caller = s
        .auth
        .authorize_request(req.credentials(), &Requirement::Anonymous)
        .await
        .unwrap();
    assert!(caller.user.is_none());
    // `verify_token` in required mode: an unbound token is a bearer token.
    // (The bare-token API has no request: it cannot enforce `required` for the caller's
    // HTTP request, only refuse bound tokens.)
    assert!(s.auth.verify_token(&bound).await.is_err());
}

#[tokio::test]
async fn bound_agent_tokens_are_refused_in_every_form() {
    let s = setup(DpopMode::Allowed);
    let caller = s.token().sign();
    let agent = s
        .token()
        .subject("agent")
        .claim("scope", json!("treasury:write"))
        .bound_to(&s.client)
        .sign();
    let unbound_agent = s
        .token()
        .subject("agent")
        .claim("scope", json!("treasury:write"))
        .sign();
    let requirement = Requirement::AgentScope(vec!["treasury:write".to_owned()]);
    let bearer = format!("Bearer {caller}");
    let run = |agent_header: String, proof: String| {
        let bearer = bearer.clone();
        let requirement = requirement.clone();
        let s = &s;
        async move {
            let mut req = Req::new(&bearer, &proof);
            req.agent = AuthorizationHeader::One(agent_header.as_bytes());
            s.auth
                .authorize_request(req.credentials(), &requirement)
                .await
                .map(|_| ())
        }
    };
    // Sanity: the unbound agent token passes.
    assert_eq!(
        run(format!("Bearer {unbound_agent}"), String::new()).await,
        Ok(())
    );
    let proof = s.proof(&agent).sign();
    for header in [format!("Bearer {agent}"), format!("DPoP {agent}")] {
        let outcome = run(header.clone(), proof.clone()).await;
        assert!(outcome.is_err(), "{header:.8}: {outcome:?}");
    }
    assert!(s
        .auth
        .authenticate_agent(AuthorizationHeader::One(
            format!("Bearer {agent}").as_bytes()
        ))
        .await
        .is_err());
}

// ----- replay store interplay ------------------------------------------------------------

#[tokio::test]
async fn fail_open_never_admits_a_replay_the_store_could_have_caught() {
    // `dpop_replay_fail_open` is documented for an unreachable store. A full in-memory store
    // is a state anyone with a bound token can cause; once full, every proof admitted is not
    // remembered and so can be replayed as often as wanted.
    let store: Arc<dyn ReplayStore> = Arc::new(MemoryReplayStore::new(1));
    let s = setup_with(
        DpopMode::Allowed,
        |b| b.dpop_replay_fail_open(true),
        Some(store),
    );
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    // The attacker's (or anyone's) proof fills the store.
    assert_eq!(s.call(&dpop, &s.proof(&bound).sign()).await, Ok(()));
    // The next proof finds the store full: refused (503), never admitted unrecorded, even
    // with fail-open (which covers an unreachable store only).
    let victim = s.proof(&bound).sign();
    assert_eq!(
        s.call(&dpop, &victim).await,
        Err(AuthError::ReplayStoreUnavailable { retry_after: 1 })
    );
    // Captured and replayed: still never admitted.
    let replay = s.call(&dpop, &victim).await;
    assert_ne!(replay, Ok(()), "replay admitted: {replay:?}");
}

#[tokio::test]
async fn one_client_cannot_exhaust_the_memory_replay_store_for_everyone() {
    // Every valid proof of any client takes a slot for up to max_age + 2*leeway + 1 seconds;
    // when the slots are gone every DPoP request of every client gets 503. One client (its own
    // bound token, its own key) can do that alone by sending proofs fast enough (default:
    // 250 000 proofs per ~70 s, ~3 600/s).
    let store: Arc<dyn ReplayStore> = Arc::new(MemoryReplayStore::new(4));
    let s = setup_with(DpopMode::Allowed, |b| b, Some(store));
    let noisy = s.bound_token();
    let noisy_dpop = format!("DPoP {noisy}");
    // One client key holds at most a quarter of the store (here one slot of four): its
    // further proofs are refused, and the room left is the other clients'.
    assert_eq!(s.call(&noisy_dpop, &s.proof(&noisy).sign()).await, Ok(()));
    for _ in 0..3 {
        assert_eq!(
            s.call(&noisy_dpop, &s.proof(&noisy).sign()).await,
            Err(AuthError::ReplayStoreUnavailable { retry_after: 1 })
        );
    }
    let victim_key = TestKey::ec_p256("victim");
    let victim = s.token().subject("victim").bound_to(&victim_key).sign();
    let proof = victim_key
        .dpop_proof("GET", HTU)
        .now(NOW)
        .access_token(&victim)
        .sign();
    assert_eq!(
        s.call(&format!("DPoP {victim}"), &proof).await,
        Ok(()),
        "another client's proofs locked this client out"
    );
}

// ----- what the answers say ---------------------------------------------------------------

#[tokio::test]
async fn answers_never_echo_token_proof_or_jti() {
    let s = setup(DpopMode::Required);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    let canary = "CANARY-jti-7f3a";
    let good = s.proof(&bound).claim("jti", json!(canary)).sign();
    assert_eq!(s.call(&dpop, &good).await, Ok(()));
    let errors = vec![
        s.call(&dpop, &good).await.unwrap_err(),
        s.call(
            &dpop,
            &s.proof(&bound)
                .claim("jti", json!(canary))
                .claim("htm", json!("POST"))
                .sign(),
        )
        .await
        .unwrap_err(),
        s.call(
            &dpop,
            &s.proof(&bound)
                .claim("jti", json!(canary))
                .claim("htu", json!("https://evil.test/x"))
                .sign(),
        )
        .await
        .unwrap_err(),
        s.call(
            &dpop,
            &s.proof(&bound)
                .claim("jti", json!(canary))
                .claim("iat", json!(1))
                .sign(),
        )
        .await
        .unwrap_err(),
        s.call(
            &dpop,
            &s.proof(&bound)
                .claim("jti", json!(canary))
                .access_token("x")
                .sign(),
        )
        .await
        .unwrap_err(),
        s.call(&dpop, &format!("{canary}.{canary}.{canary}"))
            .await
            .unwrap_err(),
        s.call(&format!("Bearer {bound}"), "").await.unwrap_err(),
        s.call(&format!("DPoP {canary}"), &good).await.unwrap_err(),
    ];
    let secrets = [
        canary,
        &bound[..24],
        bound.rsplit_once('.').unwrap().1,
        &good[..24],
        good.rsplit_once('.').unwrap().1,
    ];
    for e in errors {
        let answer = s.auth.error_response(&e);
        let shown = format!(
            "{} | {:?} | {} | {e} | {e:?}",
            answer.body, answer.www_authenticate, answer.status
        );
        for secret in secrets {
            assert!(!shown.contains(secret), "{e:?} shows {secret}: {shown}");
        }
    }
}

#[tokio::test]
async fn typ_follows_rfc_7515_media_type_rules() {
    // RFC 7515 §4.1.9: "application/" may be omitted, and a recipient MUST treat a `typ`
    // without '/' as if "application/" were prepended: `application/dpop+jwt` is the same
    // media type as `dpop+jwt`. (The access-token path already does this: typ_matches.)
    let s = setup(DpopMode::Allowed);
    let bound = s.bound_token();
    let dpop = format!("DPoP {bound}");
    assert_eq!(
        s.call(
            &dpop,
            &s.proof(&bound).header("typ", json!("DPOP+JWT")).sign()
        )
        .await,
        Ok(())
    );
    assert_eq!(
        s.call(
            &dpop,
            &s.proof(&bound)
                .header("typ", json!("application/dpop+jwt"))
                .sign()
        )
        .await,
        Ok(())
    );
}
