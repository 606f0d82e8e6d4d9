//! Token verification: every check, in order, with the error category it yields.

mod common;

use common::*;
use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{
    Algorithm, AuthError, Authenticator, KeySet, KeySource, KeysUnavailable, Malformed,
    RefreshFuture, StaticKeys,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

async fn verify(
    auth: &Authenticator,
    token: &str,
) -> Result<portcullis_core::TokenClaims, AuthError> {
    auth.verify_token(token).await
}

#[tokio::test]
async fn accepts_every_asymmetric_algorithm() {
    let (auth, _) = default_auth();
    for key in [&*RSA, &*EC256, &*EC384, &*ED] {
        let claims = verify(&auth, &token(key).sign())
            .await
            .unwrap_or_else(|e| panic!("{key:?}: {e}"));
        assert_eq!(claims.sub(), Some("user-123"));
        assert_eq!(claims.key_id(), Some(key.kid()));
        assert_eq!(claims.algorithm(), Some(key.algorithm()));
    }
    // The same RSA key verifies PS256 when its JWK does not bind it to RS256.
    let mut jwk = RSA.jwk();
    jwk.as_object_mut().map(|o| o.remove("alg"));
    let keys = StaticKeys::from_jwks(&json!({"keys": [jwk]}).to_string()).unwrap();
    let auth = Authenticator::builder(config().build().unwrap())
        .key_source(keys)
        .clock(portcullis_core::testkit::ManualClock::new(NOW))
        .build()
        .unwrap();
    let ps = token(&RSA).algorithm(Algorithm::PS256).sign();
    assert!(verify(&auth, &ps).await.is_ok());
}

#[tokio::test]
async fn authenticate_reads_the_bearer_header() {
    let (auth, _) = default_auth();
    let t = token(&RSA).sign();
    assert!(auth
        .authenticate(Some(format!("Bearer {t}").as_str()))
        .await
        .is_ok());
    assert!(auth
        .authenticate(Some(format!("bearer {t}").as_str()))
        .await
        .is_ok());
    assert_eq!(
        auth.authenticate(None).await.unwrap_err(),
        AuthError::MissingToken
    );
    assert_eq!(
        auth.authenticate(Some(format!("Basic {t}").as_str()))
            .await
            .unwrap_err(),
        AuthError::MissingToken
    );
}

#[tokio::test]
async fn none_algorithm_is_rejected_in_every_casing() {
    let (auth, _) = default_auth();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let t = token(&RSA).unsigned(alg).sign();
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::DisallowedAlgorithm,
            "{alg}"
        );
    }
}

#[tokio::test]
async fn algorithm_outside_the_allowlist_is_rejected_before_key_lookup() {
    let (auth, _) = authenticator(config().accepted_algorithms(["RS256"]), &[&RSA, &EC256]);
    let t = token(&EC256).sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::DisallowedAlgorithm
    );
    // Unknown algorithm names too.
    let t = token(&RSA).header_alg("RS257").sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::DisallowedAlgorithm
    );
}

#[tokio::test]
async fn hmac_signed_with_the_public_key_is_rejected() {
    // Key confusion: HS256 "signed" with the RSA public key as the secret.
    let (auth, _) = default_auth();
    let pem = RSA.public_pem().unwrap();
    for secret in [pem.as_bytes().to_vec(), RSA.public_der().unwrap()] {
        let t = token(&RSA)
            .hmac_with_secret(Algorithm::HS256, &secret)
            .sign();
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::DisallowedAlgorithm
        );
    }
}

#[tokio::test]
async fn key_must_allow_the_tokens_algorithm() {
    let (auth, _) = default_auth();
    // RS256 header, EC key's kid.
    let t = token(&RSA).header("kid", json!(EC256.kid())).sign();
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::KeyMismatch);
    // JWK `alg: RS256` binds the key: a PS256 signature by the same key is refused.
    let t = token(&RSA).algorithm(Algorithm::PS256).sign();
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::KeyMismatch);
}

#[tokio::test]
async fn es256_all_zero_signature_is_rejected() {
    // CVE-2022-21449 ("psychic signatures").
    let (auth, _) = default_auth();
    let t = token(&EC256).signature_bytes(vec![0; 64]).sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::BadSignature
    );
}

#[tokio::test]
async fn kid_rules() {
    let (auth, _) = default_auth();
    let t = token(&RSA).header("kid", json!("nope")).sign();
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::UnknownKey);
    // Without kid: the one RSA key of the set fits RS256.
    let t = token(&RSA).without_header("kid").sign();
    assert!(verify(&auth, &t).await.is_ok());
    // Without kid and two RSA keys: ambiguous, refused.
    let (two, _) = authenticator(config(), &[&RSA, &RSA2]);
    let t = token(&RSA).without_header("kid").sign();
    assert_eq!(verify(&two, &t).await.unwrap_err(), AuthError::UnknownKey);
}

#[tokio::test]
async fn token_headers_never_choose_the_key() {
    let (auth, _) = default_auth();
    let attacker = TestKey::rsa("attacker");
    let hostile = [
        ("jwk", attacker.jwk()),
        ("jku", json!("http://127.0.0.1:9/jwks.json")),
        ("x5u", json!("http://127.0.0.1:9/cert.pem")),
    ];
    for (name, value) in hostile {
        // Attacker's kid: not in our set.
        let t = token(&attacker).header(name, value.clone()).sign();
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::UnknownKey,
            "{name}"
        );
        // Our kid, attacker's signature.
        let t = token(&attacker)
            .header(name, value)
            .header("kid", json!(RSA.kid()))
            .sign();
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::BadSignature,
            "{name}"
        );
    }
}

#[tokio::test]
async fn crit_is_rejected() {
    let (auth, _) = default_auth();
    let t = token(&RSA)
        .header("crit", json!(["exp-ext"]))
        .header("exp-ext", json!(1))
        .sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::UnsupportedCritical
    );
}

#[tokio::test]
async fn time_claims() {
    let (auth, clock) = default_auth();
    let t = token(&RSA).lifetime(10).sign();
    clock.set(NOW + 10);
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::Expired);
    clock.set(NOW + 9);
    assert!(verify(&auth, &t).await.is_ok());
    clock.set(NOW);

    let t = token(&RSA).claim("nbf", json!(NOW + 5)).sign();
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::NotYetValid);
    let t = token(&RSA).claim("iat", json!(NOW + 5)).sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::IssuedInFuture
    );

    let t = token(&RSA).without_claim("exp").sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::MissingClaim("exp".into())
    );
    let t = token(&RSA).claim("exp", json!("tomorrow")).sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::Malformed(Malformed::ClaimType)
    );
    // Fractional NumericDate is fine.
    let t = token(&RSA).claim("exp", json!(NOW as f64 + 100.5)).sign();
    assert!(verify(&auth, &t).await.is_ok());
}

#[tokio::test]
async fn leeway_applies_to_exp_nbf_and_iat() {
    let (auth, clock) = authenticator(config().leeway_seconds(30), &[&RSA]);
    let t = token(&RSA).lifetime(10).sign();
    clock.set(NOW + 39);
    assert!(verify(&auth, &t).await.is_ok(), "expired within leeway");
    clock.set(NOW + 40);
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::Expired);
    clock.set(NOW);
    let t = token(&RSA)
        .claim("nbf", json!(NOW + 30))
        .claim("iat", json!(NOW + 30))
        .sign();
    assert!(verify(&auth, &t).await.is_ok());
    let t = token(&RSA).claim("nbf", json!(NOW + 31)).sign();
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::NotYetValid);
}

#[tokio::test]
async fn extreme_time_values_do_not_overflow() {
    let (auth, clock) = authenticator(config().leeway_seconds(300), &[&RSA]);
    for exp in [json!(u64::MAX), json!(i64::MAX), json!(1e300)] {
        let t = token(&RSA).claim("exp", exp.clone()).sign();
        assert!(verify(&auth, &t).await.is_ok(), "{exp}");
    }
    for exp in [json!(i64::MIN), json!(-1e300)] {
        let t = token(&RSA).claim("exp", exp.clone()).sign();
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::Expired,
            "{exp}"
        );
    }
    clock.set(i64::MAX);
    let t = token(&RSA).claim("exp", json!(i64::MAX)).sign();
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::Expired);
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    let (auth, _) = default_auth();
    for iss in [
        "https://issuer.test/",
        "https://ISSUER.test",
        "https://other.test",
    ] {
        let t = token(&RSA).issuer(iss).sign();
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::WrongIssuer,
            "{iss}"
        );
    }
    let t = token(&RSA).claim("iss", json!(42)).sign();
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::WrongIssuer);
    let t = token(&RSA).without_claim("iss").sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::MissingClaim("iss".into())
    );
}

#[tokio::test]
async fn audience_rules() {
    let (auth, _) = default_auth();
    let t = token(&RSA).audience("other").sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::WrongAudience
    );
    let t = token(&RSA).claim("aud", json!(["x", AUD])).sign();
    assert_eq!(verify(&auth, &t).await.unwrap().audiences(), ["x", AUD]);
    let t = token(&RSA).claim("aud", json!(["x", "y"])).sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::WrongAudience
    );
    let t = token(&RSA).without_claim("aud").sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::MissingClaim("aud".into())
    );
    // Several configured audiences: any one is enough.
    let (multi, _) = authenticator(config().audiences(["a1", "a2"]), &[&RSA]);
    let t = token(&RSA).audience("a2").sign();
    assert!(verify(&multi, &t).await.is_ok());
}

#[tokio::test]
async fn typ_when_required() {
    let (auth, _) = authenticator(config().require_typ("at+jwt"), &[&RSA]);
    for ok in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        let t = token(&RSA).header("typ", json!(ok)).sign();
        assert!(verify(&auth, &t).await.is_ok(), "{ok}");
    }
    let t = token(&RSA).sign(); // typ: JWT
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::WrongType);
    let t = token(&RSA).without_header("typ").sign();
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::WrongType);
}

#[tokio::test]
async fn required_claims_are_enforced() {
    let (auth, _) = authenticator(config().required_claims(["sub", "jti"]), &[&RSA]);
    let t = token(&RSA).claim("jti", json!("j1")).sign();
    assert!(verify(&auth, &t).await.is_ok());
    let t = token(&RSA).sign();
    let err = verify(&auth, &t).await.unwrap_err();
    assert_eq!(err, AuthError::MissingClaim("jti".into()));
    assert_eq!(err.detail(), "Token is missing required claim: jti");
}

#[tokio::test]
async fn tampering_is_detected() {
    let (auth, _) = default_auth();
    for key in [&*RSA, &*EC256, &*ED] {
        let t = token(key).tamper_payload().sign();
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::BadSignature
        );
        let t = token(key).tamper_signature().sign();
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::BadSignature
        );
    }
}

#[tokio::test]
async fn structure_errors_are_malformed() {
    let (auth, _) = default_auth();
    let good = token(&RSA).sign();
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        (
            format!("{}.{}", parts[0], parts[1]),
            Malformed::SegmentCount,
        ),
        (format!("{good}.x.y"), Malformed::SegmentCount),
        // Not `token68` at all: refused before any decoding.
        (
            format!("{}!.{}.{}", parts[0], parts[1], parts[2]),
            Malformed::NotToken68,
        ),
        (
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            Malformed::NotToken68,
        ),
        (
            format!("{}.{}.{}!", parts[0], parts[1], parts[2]),
            Malformed::NotToken68,
        ),
        // `token68` but not base64url (`+`, `/`, trailing padding).
        (
            format!("{}+.{}.{}", parts[0], parts[1], parts[2]),
            Malformed::Base64,
        ),
        (
            format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
            Malformed::Base64,
        ),
        // header `[1]`
        (format!("WzFd.{}.{}", parts[1], parts[2]), Malformed::Header),
    ];
    for (t, why) in cases {
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::Malformed(why),
            "{t}"
        );
    }
}

#[tokio::test]
async fn signed_payload_that_is_not_an_object_is_malformed() {
    let (auth, _) = default_auth();
    let header = TokenBuilder::new(&RSA).sign();
    let h = header.split('.').next().unwrap_or_default();
    for payload in ["bm90IGpzb24", "WzEsMl0"] {
        // `not json`, `[1,2]`, correctly signed.
        let input = format!("{h}.{payload}");
        let sig = RSA.sign(input.as_bytes());
        let t = format!("{input}.{}", base64_url(&sig));
        assert_eq!(
            verify(&auth, &t).await.unwrap_err(),
            AuthError::Malformed(Malformed::Payload)
        );
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_decoding() {
    let (auth, _) = authenticator(config().max_token_bytes(1024), &[&RSA]);
    let t = token(&RSA).claim("pad", json!("x".repeat(2000))).sign();
    assert_eq!(
        verify(&auth, &t).await.unwrap_err(),
        AuthError::TokenTooLarge
    );
    let header = format!("Bearer {t}");
    assert_eq!(
        auth.authenticate(Some(header.as_str())).await.unwrap_err(),
        AuthError::TokenTooLarge
    );
}

#[tokio::test]
async fn shared_secret_configuration_verifies_hmac() {
    let secret = "0123456789abcdef0123456789abcdef";
    let config = config()
        .accepted_algorithms(["HS256"])
        .shared_secret(secret)
        .build()
        .unwrap();
    let auth = Authenticator::builder(config)
        .clock(portcullis_core::testkit::ManualClock::new(NOW))
        .build()
        .unwrap();
    let key = TestKey::hmac("any", Algorithm::HS256, secret.as_bytes());
    assert!(verify(&auth, &token(&key).without_header("kid").sign())
        .await
        .is_ok());
    // A secret configured without `kid` serves tokens that carry one.
    assert!(verify(&auth, &token(&key).sign()).await.is_ok());
    let wrong = TestKey::hmac("any", Algorithm::HS256, b"another-secret-another-secret-xx");
    assert_eq!(
        verify(&auth, &token(&wrong).sign()).await.unwrap_err(),
        AuthError::BadSignature
    );
}

#[tokio::test]
async fn pem_keys_verify() {
    for key in [&*RSA, &*EC256, &*EC384, &*ED] {
        let pem = key.public_pem().unwrap();
        let source = StaticKeys::from_pem(Some(key.kid()), Some(key.algorithm()), &pem).unwrap();
        let auth = Authenticator::builder(config().build().unwrap())
            .key_source(source)
            .clock(portcullis_core::testkit::ManualClock::new(NOW))
            .build()
            .unwrap();
        assert!(verify(&auth, &token(key).sign()).await.is_ok(), "{key:?}");
    }
    assert!(StaticKeys::from_pem(None, None, "not pem").is_err());
    // A key bound to an algorithm of another family is refused at load time.
    let pem = EC256.public_pem().unwrap();
    assert!(StaticKeys::from_pem(None, Some(Algorithm::RS256), &pem).is_err());
}

/// A source that counts refreshes and reveals a second key on the first one.
struct Rotating {
    before: Arc<KeySet>,
    after: Arc<KeySet>,
    refreshes: AtomicUsize,
}

impl KeySource for Rotating {
    fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        Ok(if self.refreshes.load(Ordering::SeqCst) == 0 {
            self.before.clone()
        } else {
            self.after.clone()
        })
    }
    fn refresh<'a>(&'a self, _kid: Option<&'a str>) -> RefreshFuture<'a> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let after = self.after.clone();
        Box::pin(async move { Some(after) })
    }
}

#[tokio::test]
async fn unknown_kid_asks_the_source_once_then_verifies() {
    let source = Arc::new(Rotating {
        before: Arc::new(KeySet::from_jwks(&TestKey::jwks(&[&RSA])).unwrap()),
        after: Arc::new(KeySet::from_jwks(&TestKey::jwks(&[&RSA, &RSA2])).unwrap()),
        refreshes: AtomicUsize::new(0),
    });
    let auth = Authenticator::builder(config().build().unwrap())
        .shared_key_source(source.clone())
        .clock(portcullis_core::testkit::ManualClock::new(NOW))
        .build()
        .unwrap();
    assert!(verify(&auth, &token(&RSA).sign()).await.is_ok());
    assert_eq!(
        source.refreshes.load(Ordering::SeqCst),
        0,
        "known kid: no refresh"
    );
    assert!(verify(&auth, &token(&RSA2).sign()).await.is_ok());
    assert_eq!(source.refreshes.load(Ordering::SeqCst), 1);
    let t = token(&RSA).header("kid", json!("still-unknown")).sign();
    assert_eq!(verify(&auth, &t).await.unwrap_err(), AuthError::UnknownKey);
}

struct Down;

impl KeySource for Down {
    fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        Err(KeysUnavailable { retry_after: 5 })
    }
}

#[tokio::test]
async fn no_keys_is_503_not_401() {
    let auth = Authenticator::builder(config().build().unwrap())
        .key_source(Down)
        .build()
        .unwrap();
    let err = verify(&auth, &token(&RSA).sign()).await.unwrap_err();
    assert_eq!(err, AuthError::KeysUnavailable { retry_after: 5 });
    let r = err.to_response();
    assert_eq!((r.status, r.retry_after), (503, Some(5)));
}

#[tokio::test]
async fn error_bodies_never_echo_the_token() {
    let (auth, _) = default_auth();
    let tokens = [
        token(&RSA).header("kid", json!("secret-kid-value")).sign(),
        token(&RSA).issuer("https://evil.example").sign(),
        token(&RSA).claim("exp", json!("secret-exp")).sign(),
        token(&RSA).tamper_signature().sign(),
        "eyJhbGciOiJSUzI1NiJ9.garbage-payload.sig".to_owned(),
    ];
    for t in tokens {
        let err = verify(&auth, &t).await.unwrap_err();
        let r = err.to_response();
        let everything = format!("{} {:?} {err}", r.body, r.www_authenticate);
        for part in t.split('.').filter(|p| p.len() >= 8) {
            assert!(
                !everything.contains(part),
                "leaked a token segment: {everything}"
            );
        }
        for secret in ["secret-kid-value", "evil.example", "secret-exp"] {
            assert!(
                !everything.contains(secret),
                "leaked token content: {everything}"
            );
        }
    }
}

#[tokio::test]
async fn interoperates_with_jsonwebtoken() {
    // jsonwebtoken decodes what the test kit mints...
    let jwk = RSA.jwk();
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[AUD]);
    validation.set_issuer(&[ISS]);
    let minted = TokenBuilder::new(&RSA)
        .issuer(ISS)
        .audience(AUD)
        .subject("u")
        .sign();
    let decoded = jsonwebtoken::decode::<serde_json::Value>(&minted, &key, &validation).unwrap();
    assert_eq!(decoded.claims["sub"], "u");

    // ...and portcullis verifies what jsonwebtoken signs.
    let secret = "0123456789abcdef0123456789abcdef";
    let now = portcullis_core::Clock::now_unix(&portcullis_core::SystemClock);
    let claims = json!({"iss": ISS, "aud": AUD, "sub": "from-jsonwebtoken", "exp": now + 60});
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let config = config()
        .accepted_algorithms(["HS256"])
        .shared_secret(secret)
        .build()
        .unwrap();
    let auth = Authenticator::builder(config).build().unwrap();
    assert_eq!(
        verify(&auth, &t).await.unwrap().sub(),
        Some("from-jsonwebtoken")
    );
}

#[tokio::test]
async fn a_cache_hit_does_not_carry_the_full_checks_state() {
    // The full check runs boxed: a caller's future (copied on every request, cache hits
    // included) stays small. Measured with the `remote` feature (revocation) compiled in.
    let (auth, _) = default_auth();
    let verify = auth.verify_token("x");
    eprintln!("verify_token: {} bytes", std::mem::size_of_val(&verify));
    assert!(
        std::mem::size_of_val(&verify) <= 640,
        "{}",
        std::mem::size_of_val(&verify)
    );
    drop(verify);
    let request = auth.authenticate_request(portcullis_core::RequestCredentials::new(
        portcullis_core::AuthorizationHeader::Absent,
        portcullis_core::AuthorizationHeader::Absent,
    ));
    eprintln!(
        "authenticate_request: {} bytes",
        std::mem::size_of_val(&request)
    );
    assert!(
        std::mem::size_of_val(&request) <= 1024,
        "{}",
        std::mem::size_of_val(&request)
    );
}
