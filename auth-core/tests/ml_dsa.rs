//! Post-quantum ML-DSA tokens (feature `ml-dsa`): a published test vector, the test kit's
//! own keys, and the allowlist.
#![cfg(feature = "ml-dsa")]

use portcullis_core::testkit::{ManualClock, TestKey, TokenBuilder};
use portcullis_core::{
    Algorithm, AuthConfig, AuthError, Authenticator, KeyLookup, KeySet, StaticKeys,
};
use serde_json::{json, Value};

/// The JOSE example of draft-ietf-cose-dilithium: an ML-DSA-65 JWS over a text payload.
fn vector() -> (KeySet, String) {
    let doc: Value = serde_json::from_str(include_str!("data/ml-dsa-65.jose.json")).unwrap();
    let set = KeySet::from_jwks(&json!({"keys": [doc["jwk"]]}).to_string()).unwrap();
    (set, doc["jws"].as_str().unwrap().to_owned())
}

#[test]
fn published_ml_dsa_65_vector_verifies() {
    let (set, jws) = vector();
    assert_eq!(set.len(), 1);
    let (input, sig) = jws.rsplit_once('.').unwrap();
    let sig = base64_url(sig);
    let KeyLookup::Found(key) = set.find(
        Some("Suiu29qbfuaBaR4Ats-c6XQBePB_OpAxAwcTR_0KXVM"),
        Algorithm::MlDsa65,
    ) else {
        panic!("vector key not found");
    };
    assert!(key.verify(Algorithm::MlDsa65, input.as_bytes(), &sig));
    // One flipped bit in the message or the signature, and it fails.
    let mut tampered = input.as_bytes().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(!key.verify(Algorithm::MlDsa65, &tampered, &sig));
    let mut bad_sig = sig.clone();
    bad_sig[100] ^= 1;
    assert!(!key.verify(Algorithm::MlDsa65, input.as_bytes(), &bad_sig));
    // The key is bound to ML-DSA-65.
    assert!(!key.verify(Algorithm::MlDsa87, input.as_bytes(), &sig));
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn auth(algorithms: &[&str], keys: &[&TestKey]) -> Authenticator {
    let config = AuthConfig::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .accepted_algorithms(algorithms)
        .build()
        .unwrap();
    Authenticator::builder(config)
        .key_source(StaticKeys::from_jwks(&TestKey::jwks(keys)).unwrap())
        .clock(ManualClock::new(1_700_000_000))
        .build()
        .unwrap()
}

fn token(key: &TestKey) -> String {
    TokenBuilder::new(key)
        .now(1_700_000_000)
        .issuer("https://issuer.test")
        .audience("api")
        .subject("pq-user")
        .sign()
}

#[tokio::test]
async fn ml_dsa_tokens_verify_when_listed() {
    let k65 = TestKey::ml_dsa_65("pq-65");
    let k87 = TestKey::ml_dsa_87("pq-87");
    let a = auth(&["ML-DSA-65", "ML-DSA-87"], &[&k65, &k87]);
    for key in [&k65, &k87] {
        let t = token(key);
        assert!(t.len() < 8192, "fits the default size limit");
        let claims = a
            .verify_token(&t)
            .await
            .unwrap_or_else(|e| panic!("{key:?}: {e}"));
        assert_eq!(claims.sub(), Some("pq-user"));
        let bad = TokenBuilder::new(key)
            .now(1_700_000_000)
            .issuer("https://issuer.test")
            .audience("api")
            .tamper_signature()
            .sign();
        assert_eq!(
            a.verify_token(&bad).await.unwrap_err(),
            AuthError::BadSignature
        );
    }
}

#[tokio::test]
async fn ml_dsa_tokens_are_refused_when_not_listed() {
    let k65 = TestKey::ml_dsa_65("pq-65");
    let k87 = TestKey::ml_dsa_87("pq-87");
    let only_rs = auth(&["RS256"], &[&k65, &k87]);
    let only_65 = auth(&["ML-DSA-65"], &[&k65, &k87]);
    assert_eq!(
        only_rs.verify_token(&token(&k65)).await.unwrap_err(),
        AuthError::DisallowedAlgorithm
    );
    assert_eq!(
        only_65.verify_token(&token(&k87)).await.unwrap_err(),
        AuthError::DisallowedAlgorithm
    );
    assert!(only_65.verify_token(&token(&k65)).await.is_ok());
}

#[test]
fn akp_keys_need_alg_and_pub() {
    let (set, skipped) = KeySet::from_jwks_report(
        &json!({"keys": [
            {"kty": "AKP", "kid": "no-alg", "pub": "AAAA"},
            {"kty": "AKP", "kid": "no-pub", "alg": "ML-DSA-65"},
            {"kty": "AKP", "kid": "short", "alg": "ML-DSA-65", "pub": "AAAA"},
            {"kty": "AKP", "kid": "rsa-alg", "alg": "RS256", "pub": "AAAA"},
        ]})
        .to_string(),
    )
    .unwrap();
    assert!(set.is_empty());
    let reasons: Vec<_> = skipped.iter().map(|s| s.reason).collect();
    assert_eq!(
        reasons,
        [
            "AKP key without `alg`",
            "AKP key without `pub`",
            "invalid ML-DSA public key",
            "not an ML-DSA algorithm"
        ]
    );
}
