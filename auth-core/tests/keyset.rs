//! Key sets: unusable keys are skipped one by one (RFC 7517 §5), never the whole set.

mod common;

use common::*;
use portcullis_core::testkit::TestKey;
use portcullis_core::{Algorithm, JwksError, KeyLookup, KeySet};
use serde_json::json;

fn report(doc: serde_json::Value) -> (KeySet, Vec<(Option<String>, &'static str)>) {
    let (set, skipped) = KeySet::from_jwks_report(&doc.to_string()).unwrap();
    (
        set,
        skipped.into_iter().map(|s| (s.kid, s.reason)).collect(),
    )
}

#[test]
fn unusable_keys_are_skipped_and_the_rest_kept() {
    let good = RSA.jwk();
    let mut small = RSA.jwk();
    small["kid"] = json!("small");
    small["n"] = json!(b64url(&[0xC5; 128])); // 1024-bit modulus
    let mut enc = EC256.jwk();
    enc["kid"] = json!("enc");
    enc["use"] = json!("enc");
    let mut ops = ED.jwk();
    ops["kid"] = json!("ops");
    ops["key_ops"] = json!(["encrypt"]);
    let mut no_n = RSA.jwk();
    no_n["kid"] = json!("no-n");
    no_n.as_object_mut().map(|o| o.remove("n"));
    let mut bad_alg = RSA.jwk();
    bad_alg["kid"] = json!("bad-alg");
    bad_alg["alg"] = json!("ES256");
    let mut bad_point = EC256.jwk();
    bad_point["kid"] = json!("bad-point");
    bad_point["x"] = json!(b64url(&[1; 32]));
    let oct = TestKey::hmac("oct", Algorithm::HS256, &[7; 32]).jwk();
    let doc = json!({"keys": [
        good, small, enc, ops, no_n, bad_alg, bad_point, oct,
        {"kty": "XYZ", "kid": "weird"},
        {"kid": "no-kty"},
        "not an object",
        {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "num-n", "n": 5, "e": "AQAB"},
    ]});
    let (set, skipped) = report(doc);
    assert_eq!(set.len(), 1);
    assert!(matches!(
        set.find(Some(RSA.kid()), Algorithm::RS256),
        KeyLookup::Found(_)
    ));
    assert_eq!(
        skipped,
        [
            (Some("small".into()), "RSA modulus below 2048 bits"),
            (Some("enc".into()), "`use` is not `sig`"),
            (Some("ops".into()), "`key_ops` does not include `verify`"),
            (Some("no-n".into()), "RSA key without `n`"),
            (
                Some("bad-alg".into()),
                "JWK `alg` does not fit the key type"
            ),
            (
                Some("bad-point".into()),
                "invalid EC public key for its curve"
            ),
            (
                Some("oct".into()),
                "symmetric keys are never taken from a key set"
            ),
            (Some("weird".into()), "unsupported `kty`"),
            (Some("no-kty".into()), "no `kty`"),
            (None, "member of the wrong JSON type"),
            (Some("p521".into()), "unsupported EC curve"),
            (Some("num-n".into()), "member of the wrong JSON type"),
        ]
    );
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn documents_that_are_not_key_sets() {
    assert_eq!(KeySet::from_jwks("<html>").unwrap_err(), JwksError::NotJson);
    assert_eq!(KeySet::from_jwks("[1]").unwrap_err(), JwksError::NotJson);
    assert_eq!(KeySet::from_jwks("{}").unwrap_err(), JwksError::NoKeys);
    assert_eq!(
        KeySet::from_jwks(r#"{"keys": {}}"#).unwrap_err(),
        JwksError::NoKeys
    );
    assert!(KeySet::from_jwks(r#"{"keys": []}"#).unwrap().is_empty());
}

#[test]
fn padded_members_and_leading_zeros_are_tolerated() {
    let mut jwk = RSA.jwk();
    let n = jwk["n"].as_str().unwrap().to_owned();
    // Re-encode n with a leading zero byte and `=` padding, as some issuers publish it.
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&n)
        .unwrap();
    let mut with_zero = vec![0u8];
    with_zero.extend(raw);
    jwk["n"] = json!(base64::engine::general_purpose::URL_SAFE.encode(&with_zero));
    let set = KeySet::from_jwks(&json!({"keys": [jwk]}).to_string()).unwrap();
    assert_eq!(set.len(), 1);
}

#[test]
fn duplicate_kids_keep_the_first_key() {
    let mut second = RSA2.jwk();
    second["kid"] = json!(RSA.kid());
    let set = KeySet::from_jwks(&json!({"keys": [RSA.jwk(), second]}).to_string()).unwrap();
    assert_eq!(set.len(), 1);
}

#[test]
fn debug_never_prints_key_material() {
    let secret = [b'k'; 40];
    let key = portcullis_core::VerifyingKey::shared_secret(Some("s".into()), &secret).unwrap();
    let shown = format!("{key:?}");
    assert!(
        !shown.contains("kkkk") && !shown.contains("107, 107"),
        "{shown}"
    );
}

#[test]
fn ten_thousand_keys_keep_the_first_hundred_usable_ones() {
    // One real key repeated under distinct kids, plus junk: parsing stays bounded.
    let keys: Vec<serde_json::Value> = (0..10_000)
        .map(|i| {
            let mut k = if i % 2 == 0 { EC256.jwk() } else { ED.jwk() };
            k["kid"] = json!(format!("k{i}"));
            k
        })
        .collect();
    let (set, skipped) = report(json!({ "keys": keys }));
    assert_eq!(set.len(), portcullis_core::MAX_KEYS);
    assert_eq!(skipped.len(), 10_000 - portcullis_core::MAX_KEYS);
    assert!(matches!(
        set.find(Some("k0"), Algorithm::ES256),
        KeyLookup::Found(_)
    ));
    assert!(matches!(
        set.find(Some("k200"), Algorithm::ES256),
        KeyLookup::Unknown
    ));
}

#[test]
fn rsa_exponents_must_be_odd_and_at_least_three() {
    for e in [
        vec![1u8],
        vec![2],
        vec![0, 1],
        vec![1, 0, 0],
        vec![0x02, 0, 0, 0, 0, 1],
    ] {
        let mut key = RSA.jwk();
        key["e"] = json!(b64url(&e));
        let (set, skipped) = report(json!({ "keys": [key] }));
        assert!(set.is_empty(), "{e:?}");
        assert_eq!(
            skipped[0].1, "RSA exponent not an odd number from 3 to 2^33",
            "{e:?}"
        );
    }
    let mut three = RSA.jwk();
    three["e"] = json!(b64url(&[3]));
    assert_eq!(report(json!({ "keys": [three] })).0.len(), 1);
}

/// A key that arrived through another request's fetch, between this request's look at the
/// keys and its own refresh (declined within the cooldown), is still found.
#[tokio::test]
async fn a_key_fetched_meanwhile_by_another_request_is_found() {
    use portcullis_core::{KeySet, KeySource, KeysUnavailable, RefreshFuture};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Racing {
        looks: AtomicUsize,
        before: Arc<KeySet>,
        after: Arc<KeySet>,
    }
    impl KeySource for Racing {
        fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
            // The first look predates the other request's fetch; every later one follows it.
            Ok(if self.looks.fetch_add(1, Ordering::SeqCst) == 0 {
                Arc::clone(&self.before)
            } else {
                Arc::clone(&self.after)
            })
        }
        fn refresh<'a>(&'a self, _kid: Option<&'a str>) -> RefreshFuture<'a> {
            Box::pin(std::future::ready(None)) // within the cooldown
        }
    }
    let source = Racing {
        looks: AtomicUsize::new(0),
        before: Arc::new(KeySet::from_jwks(&TestKey::jwks(&[&RSA])).expect("jwks")),
        after: Arc::new(KeySet::from_jwks(&TestKey::jwks(&[&RSA, &RSA2])).expect("jwks")),
    };
    let auth = portcullis_core::Authenticator::builder(config().build().expect("config"))
        .key_source(source)
        .clock(portcullis_core::testkit::ManualClock::new(NOW))
        .build()
        .expect("authenticator");
    assert!(auth.verify_token(&token(&RSA2).sign()).await.is_ok());
}
