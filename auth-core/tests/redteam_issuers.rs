//! Red-team tests of several trusted issuers (`issuers:` / `also_trust`).
//!
//! The `finding_*` tests were written failing, asserting the secure behaviour; they pass since
//! the fixes (section-wide keys refused in entries, key sources never inherited, the
//! section's settings kept when the issuers are given in code, near-duplicate issuers refused).
//! Every other test is an attack that held.

mod common;

use common::*;
use portcullis_core::testkit::{ManualClock, TestIssuer, TestKey, TokenBuilder};
use portcullis_core::{
    Algorithm, AuthConfig, AuthError, Authenticator, AuthorizationHeader, Malformed,
    RequestCredentials, Requirement,
};
use serde_json::{json, Value};

const SECRET: &str = "0123456789abcdef0123456789abcdef-shared";

fn jwks_file(name: &str, keys: &[&TestKey]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-redteam-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, TestKey::jwks(keys)).expect("write jwks");
    path
}

fn build_with(yaml: &str, clock: &ManualClock) -> Result<Authenticator, String> {
    let config = AuthConfig::builder()
        .yaml_str(yaml)
        .build()
        .map_err(|e| e.to_string())?;
    Authenticator::builder(config)
        .clock(clock.clone())
        .build()
        .map_err(|e| e.to_string())
}

fn build(yaml: &str) -> Result<Authenticator, String> {
    build_with(yaml, &ManualClock::new(NOW))
}

fn minted<'k>(key: &'k TestKey, iss: &str) -> TokenBuilder<'k> {
    TokenBuilder::new(key).now(NOW).issuer(iss).subject("s-1")
}

fn b64url(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A token with a hand-written payload (duplicate members, odd types), really signed.
fn raw_token(key: &TestKey, payload: &str) -> String {
    let header = json!({"alg": key.algorithm().as_str(), "kid": key.kid(), "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.as_bytes())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

/// Two issuers from JWKS files: A (RSA, kid `k`) and B (RSA, kid `k` too).
fn two_rsa_same_kid() -> (Authenticator, TestKey, TestKey) {
    let a = TestKey::rsa("k");
    let b = TestKey::rsa("k");
    let yaml = format!(
        "auth_client:\n  leeway_seconds: 0\n  issuers:\n    - {{issuer: https://a.example, audience: api-a, jwks_file: {}}}\n    - {{issuer: https://b.example, audience: api-b, jwks_file: {}}}\n",
        jwks_file("same-kid-a", &[&a]).display(),
        jwks_file("same-kid-b", &[&b]).display()
    );
    (build(&yaml).expect("valid"), a, b)
}

// ---------------------------------------------------------------------------------------
// Findings (assert the secure behaviour; fail today)
// ---------------------------------------------------------------------------------------

/// An entry written `enabled: false` (to switch one issuer off) is accepted silently; as the
/// FIRST entry (no top-level issuer) it becomes the main configuration and switches ALL
/// authentication off: every request passes anonymously.
#[tokio::test]
async fn finding_entry_enabled_false_first_disables_everything() {
    let a = TestKey::rsa("a");
    let b = TestKey::rsa("b");
    let yaml = format!(
        "auth_client:\n  issuers:\n    - {{issuer: https://a.example, audience: api-a, jwks_file: {}, enabled: false}}\n    - {{issuer: https://b.example, audience: api-b, jwks_file: {}}}\n",
        jwks_file("dis-a", &[&a]).display(),
        jwks_file("dis-b", &[&b]).display()
    );
    match build(&yaml) {
        Err(_) => {} // refused at start: fine
        Ok(auth) => {
            // No token at all, on an authenticated route:
            let decision = auth
                .authorize(None::<&str>, &Requirement::Authenticated)
                .await;
            assert!(
                decision.is_err(),
                "a request without a token passed an authenticated route: auth is disabled (enabled={})",
                auth.config().enabled()
            );
        }
    }
}

/// `enabled: false` on a later entry is accepted and ignored: the issuer stays trusted.
#[tokio::test]
async fn finding_entry_enabled_false_later_is_still_trusted() {
    let a = TestKey::rsa("a");
    let b = TestKey::rsa("b");
    let yaml = format!(
        "auth_client:\n  issuers:\n    - {{issuer: https://a.example, audience: api-a, jwks_file: {}}}\n    - {{issuer: https://b.example, audience: api-b, jwks_file: {}, enabled: false}}\n",
        jwks_file("dis2-a", &[&a]).display(),
        jwks_file("dis2-b", &[&b]).display()
    );
    let Ok(auth) = build(&yaml) else { return };
    let t = minted(&b, "https://b.example").audience("api-b").sign();
    assert!(
        auth.verify_token(&t).await.is_err(),
        "a token of the 'disabled' issuer B verified"
    );
}

/// A YAML entry inherits the section's key source: with a top-level issuer A and its
/// `jwks_file`, an entry for B that names no key source (meaning: OIDC discovery on B) takes
/// A's key file, and A's keys then verify tokens claiming `iss` = B (claim 2 broken).
#[tokio::test]
async fn finding_entry_inherits_top_level_key_source() {
    let a = TestKey::rsa("a-1");
    let yaml = format!(
        "auth_client:\n  issuer: https://a.example\n  audience: api\n  jwks_file: {}\n  issuers:\n    - issuer: https://b.example\n",
        jwks_file("inherit-a", &[&a]).display()
    );
    let Ok(auth) = build(&yaml) else { return };
    // Whoever holds A's signing key (A itself, a compromise of A, a less trusted tenant...)
    // mints a token for B.
    let forged = minted(&a, "https://b.example").audience("api").sign();
    let r = auth.verify_token(&forged).await;
    assert!(
        r.is_err(),
        "A's key verified a token of issuer B: {:?}",
        r.map(|c| c.verifying_issuer().map(str::to_owned))
    );
}

/// Same, for a schemeless issuer: `accounts.google.com` is allowed only with an explicit key
/// source, but an inherited `jwks_endpoint`/`jwks_file` (the other issuer's) satisfies the rule.
#[tokio::test]
async fn finding_schemeless_entry_satisfied_by_inherited_key_source() {
    let a = TestKey::rsa("a-1");
    let yaml = format!(
        "auth_client:\n  issuer: https://a.example\n  audience: api\n  jwks_file: {}\n  issuers:\n    - issuer: accounts.google.com\n",
        jwks_file("schemeless-a", &[&a]).display()
    );
    let Ok(auth) = build(&yaml) else { return };
    let forged = minted(&a, "accounts.google.com").audience("api").sign();
    assert!(
        auth.verify_token(&forged).await.is_err(),
        "A's key verified a token of accounts.google.com"
    );
}

/// Section: HS256 with a shared secret for issuer A. Entry B (meant to use discovery) names
/// no algorithms and no keys: it inherits HS256 and A's shared secret, so anyone holding A's
/// secret (every service A shares it with) mints tokens of B.
#[tokio::test]
async fn finding_entry_inherits_shared_secret() {
    let yaml = format!(
        "auth_client:\n  issuer: https://a.example\n  audience: api\n  accepted_algorithms: [HS256]\n  shared_secret: \"{SECRET}\"\n  issuers:\n    - issuer: https://b.example\n      audience: api-b\n"
    );
    let Ok(auth) = build(&yaml) else { return };
    let any = TestKey::rsa("unused");
    let forged = minted(&any, "https://b.example")
        .audience("api-b")
        .hmac_with_secret(Algorithm::HS256, SECRET.as_bytes())
        .sign();
    let r = auth.verify_token(&forged).await;
    assert!(
        r.is_err(),
        "A's shared secret verified a token of issuer B: {:?}",
        r.map(|c| c.verifying_issuer().map(str::to_owned))
    );
}

/// Agent settings hold for the whole application: set in an entry of `issuers:`, they are
/// refused at start (they were silently ignored).
#[test]
fn finding_entry_agent_require_typ_ignored() {
    let err = build(
        "auth_client:\n  issuers:\n    - {issuer: https://a.example, audience: api-a, jwks_file: /dev/null}\n    - {issuer: https://b.example, audience: api-b, jwks_file: /dev/null, agent_require_typ: agent+jwt, agent_required_claims: [task_type]}\n",
    )
    .unwrap_err();
    assert!(
        err.contains("auth_client.issuers[1].agent_require_typ holds for the whole application"),
        "{err}"
    );
    assert!(
        err.contains("auth_client.issuers[1].agent_required_claims"),
        "{err}"
    );
}

/// Revocation holds for the whole application: an entry's `revocation_endpoint` is refused at
/// start (it was validated but never polled); set in the section, it applies to every issuer
/// and every issuer's tokens need a `jti`.
#[tokio::test]
async fn finding_entry_revocation_endpoint_ignored() {
    let a = TestKey::rsa("a");
    let b = TestKey::rsa("b");
    let b_issuer = TestIssuer::start(&[&b]).await;
    b_issuer.revoke("jti-revoked");
    let (fa, fb) = (jwks_file("rev-a", &[&a]), jwks_file("rev-b", &[&b]));
    let in_entry = format!(
        "auth_client:\n  issuers:\n    - {{issuer: https://a.example, audience: api-a, jwks_file: {}}}\n    - {{issuer: https://b.example, audience: api-b, jwks_file: {}, revocation_endpoint: \"{}\"}}\n",
        fa.display(),
        fb.display(),
        b_issuer.revocation_url()
    );
    let err = build(&in_entry).unwrap_err();
    assert!(
        err.contains("auth_client.issuers[1].revocation_endpoint holds for the whole application"),
        "{err}"
    );
    let in_section = format!(
        "auth_client:\n  revocation_endpoint: \"{}\"\n  issuers:\n    - {{issuer: https://a.example, audience: api-a, jwks_file: {}}}\n    - {{issuer: https://b.example, audience: api-b, jwks_file: {}}}\n",
        b_issuer.revocation_url(),
        fa.display(),
        fb.display()
    );
    let auth = build(&in_section).expect("valid");
    let revoked = minted(&b, "https://b.example")
        .audience("api-b")
        .claim("jti", json!("jti-revoked"))
        .sign();
    assert_eq!(
        auth.verify_token(&revoked).await.unwrap_err(),
        AuthError::Revoked
    );
    let no_jti = minted(&b, "https://b.example").audience("api-b").sign();
    assert!(matches!(
        auth.verify_token(&no_jti).await.unwrap_err(),
        AuthError::MissingClaim(c) if c == "jti"
    ));
}

/// Leeway holds for the whole application (the cache re-checks with it): an entry's
/// `leeway_seconds` is refused at start instead of being ignored by the cache.
#[test]
fn finding_cache_uses_main_leeway_for_other_issuer() {
    let err = build(
        "auth_client:\n  leeway_seconds: 300\n  issuers:\n    - {issuer: https://a.example, audience: api-a, jwks_file: /dev/null}\n    - {issuer: https://b.example, audience: api-b, jwks_file: /dev/null, leeway_seconds: 0}\n",
    )
    .unwrap_err();
    assert!(
        err.contains("auth_client.issuers[1].leeway_seconds holds for the whole application"),
        "{err}"
    );
}

/// Duplicate issuers are caught only when byte-equal: the same issuer with a trailing slash,
/// or with a different host case, makes two entries with different settings (audience, keys).
#[test]
fn finding_near_duplicate_issuers_accepted() {
    let yaml = "auth_client:\n  issuers:\n    - {issuer: https://a.example, audience: x, jwks_file: /dev/null}\n    - {issuer: https://a.example/, audience: y, jwks_file: /dev/null}\n    - {issuer: https://A.example, audience: z, jwks_file: /dev/null}\n";
    let r = AuthConfig::builder().yaml_str(yaml).build();
    assert!(r.is_err(), "near-duplicate issuers accepted silently");
}

/// In code, with no top-level issuer, the parent builder's own settings are DROPPED: the
/// first `also_trust` entry becomes the main configuration, and section-wide keys set on the
/// parent (`revocation_endpoint`, `token_cookie`, `max_token_bytes`, cache limits...) vanish
/// without a word. Here: a revocation list set on the parent is never consulted.
#[tokio::test]
async fn finding_also_trust_drops_parent_revocation() {
    let a = TestKey::rsa("a");
    let b = TestKey::rsa("b");
    let list = TestIssuer::start(&[&a]).await;
    list.revoke("jti-revoked");
    let config = AuthConfig::builder()
        .revocation_endpoint(list.revocation_url())
        .also_trust(
            AuthConfig::builder()
                .issuer("https://a.example")
                .audience("api-a")
                .jwks_file(jwks_file("drop-a", &[&a]).display().to_string()),
        )
        .also_trust(
            AuthConfig::builder()
                .issuer("https://b.example")
                .audience("api-b")
                .jwks_file(jwks_file("drop-b", &[&b]).display().to_string()),
        )
        .build()
        .expect("accepted");
    assert_eq!(
        config.revocation_endpoint(),
        Some(list.revocation_url().as_str()),
        "the parent's revocation_endpoint was dropped from the configuration"
    );
    let auth = Authenticator::builder(config)
        .clock(ManualClock::new(NOW))
        .build()
        .unwrap();
    let revoked = minted(&a, "https://a.example")
        .audience("api-a")
        .claim("jti", json!("jti-revoked"))
        .sign();
    assert!(
        auth.verify_token(&revoked).await.is_err(),
        "revoked token accepted"
    );
}

// ---------------------------------------------------------------------------------------
// Attacks that held
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn same_kid_in_two_issuers_never_crosses() {
    let (auth, a, b) = two_rsa_same_kid();
    // B's key, A's iss (and A's audience): A's key with the same kid is used: bad signature.
    let t = minted(&b, "https://a.example").audience("api-a").sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::BadSignature
    );
    let t = minted(&a, "https://b.example").audience("api-b").sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::BadSignature
    );
    // Own tokens fine, each named by its verifier.
    let ta = minted(&a, "https://a.example").audience("api-a").sign();
    let tb = minted(&b, "https://b.example").audience("api-b").sign();
    assert_eq!(
        auth.verify_token(&ta).await.unwrap().verifying_issuer(),
        Some("https://a.example")
    );
    assert_eq!(
        auth.verify_token(&tb).await.unwrap().verifying_issuer(),
        Some("https://b.example")
    );
    // Cached, again, under their own issuer.
    assert_eq!(
        auth.verify_token(&ta).await.unwrap().verifying_issuer(),
        Some("https://a.example")
    );
    assert_eq!(
        auth.verify_token(&tb).await.unwrap().verifying_issuer(),
        Some("https://b.example")
    );
    // Cross audience.
    let t = minted(&a, "https://a.example").audience("api-b").sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::WrongAudience
    );
}

/// A: HS256 + shared secret; B: RS256 from a JWKS file. Every confusion refused.
#[tokio::test]
async fn hmac_and_rsa_issuers_no_algorithm_confusion() {
    let b = TestKey::rsa("b-1");
    let a_entry = AuthConfig::builder()
        .issuer("https://a.example")
        .audience("api-a")
        .accepted_algorithms(["HS256"])
        .shared_secret(SECRET);
    let b_entry = AuthConfig::builder()
        .issuer("https://b.example")
        .audience("api-b")
        .jwks_file(jwks_file("conf-b", &[&b]).display().to_string());
    let config = AuthConfig::builder()
        .leeway_seconds(0)
        .also_trust(a_entry)
        .also_trust(b_entry)
        .build()
        .expect("valid");
    let auth = Authenticator::builder(config)
        .clock(ManualClock::new(NOW))
        .build()
        .unwrap();
    let pem = b.public_pem().unwrap();
    let der = b.public_der().unwrap();
    // B's public key as an HMAC secret, for B: HS256 is not B's.
    for secret in [pem.as_bytes(), der.as_slice()] {
        let t = minted(&b, "https://b.example")
            .audience("api-b")
            .hmac_with_secret(Algorithm::HS256, secret)
            .sign();
        assert_eq!(
            auth.verify_token(&t).await.unwrap_err(),
            AuthError::DisallowedAlgorithm
        );
        // ... and for A: A's secret is not B's public key.
        let t = minted(&b, "https://a.example")
            .audience("api-a")
            .hmac_with_secret(Algorithm::HS256, secret)
            .sign();
        assert_eq!(
            auth.verify_token(&t).await.unwrap_err(),
            AuthError::BadSignature
        );
    }
    // A's secret for a B token.
    let t = minted(&b, "https://b.example")
        .audience("api-b")
        .hmac_with_secret(Algorithm::HS256, SECRET.as_bytes())
        .sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::DisallowedAlgorithm
    );
    // B's RSA key for an A token, with and without kid.
    let t = minted(&b, "https://a.example").audience("api-a").sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::DisallowedAlgorithm
    );
    // Own tokens work.
    let t = minted(&b, "https://a.example")
        .audience("api-a")
        .without_header("kid")
        .hmac_with_secret(Algorithm::HS256, SECRET.as_bytes())
        .sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap().verifying_issuer(),
        Some("https://a.example")
    );
    let t = minted(&b, "https://b.example").audience("api-b").sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap().verifying_issuer(),
        Some("https://b.example")
    );
    // `none` and alg case tricks.
    for alg in ["none", "None", "hs256", "HS256 ", "RS256\u{0}"] {
        let t = minted(&b, "https://a.example")
            .audience("api-a")
            .unsigned(alg)
            .sign();
        assert!(auth.verify_token(&t).await.is_err(), "{alg:?}");
    }
}

/// Unknown, non-string, missing or hostile `iss`: 401, and nothing fetched from anyone.
#[tokio::test]
async fn hostile_iss_never_fetches_nor_panics() {
    let key = TestKey::rsa("k");
    let a = TestIssuer::start(&[&key]).await;
    let b = TestIssuer::start(&[&key]).await;
    let evil = TestIssuer::start(&[&key]).await;
    let config = AuthConfig::builder()
        .max_token_bytes(65_536)
        .also_trust(AuthConfig::builder().issuer(a.issuer()).audience("api"))
        .also_trust(AuthConfig::builder().issuer(b.issuer()).audience("api"))
        .build()
        .expect("valid");
    let auth = Authenticator::builder(config)
        .clock(ManualClock::new(NOW))
        .build()
        .unwrap();
    // Let the background fetches settle.
    for _ in 0..50 {
        if auth.readiness().ready {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(auth.readiness().ready);
    let before = (a.total_requests(), b.total_requests());
    let evil_iss = evil.issuer();
    let long = format!("https://{}.example", "x".repeat(40_000));
    let near = [
        format!("{}/", a.issuer()),
        a.issuer().to_uppercase(),
        format!(" {}", a.issuer()),
        format!("{}\u{0}", a.issuer()),
        a.issuer().replace("127.0.0.1", "localhost"),
    ];
    let mut values: Vec<Value> = vec![
        json!(evil_iss),
        json!(""),
        json!(123),
        json!(true),
        json!([a.issuer()]),
        json!({"iss": a.issuer()}),
        json!(long),
    ];
    values.extend(near.iter().map(|s| json!(s)));
    for iss in values {
        let t = TokenBuilder::new(&key)
            .now(NOW)
            .audience("api")
            .claim("iss", iss.clone())
            .header("kid", json!("unknown-kid-to-force-refresh"))
            .sign();
        let e = auth.verify_token(&t).await.unwrap_err();
        assert_eq!(
            e,
            AuthError::WrongIssuer,
            "iss {}",
            &iss.to_string()[..40.min(iss.to_string().len())]
        );
        assert_eq!(e.status(), 401);
    }
    for iss in [None, Some(Value::Null)] {
        let mut tb = TokenBuilder::new(&key)
            .now(NOW)
            .audience("api")
            .without_claim("iss");
        if let Some(v) = iss {
            tb = tb.claim("iss", v);
        }
        let e = auth.verify_token(&tb.sign()).await.unwrap_err();
        assert!(
            matches!(e, AuthError::MissingClaim(ref c) if c == "iss"),
            "{e:?}"
        );
    }
    // Deeply nested payload, parsed before any signature check: no stack overflow.
    let deep = format!("{{\"iss\":{}1{}}}", "[".repeat(20_000), "]".repeat(20_000));
    let e = auth
        .verify_token(&raw_token(&key, &deep))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 401);
    // Garbage payloads.
    for payload in ["[]", "null", "\"iss\"", "{", "{\"iss\":\"x\"", ""] {
        let e = auth
            .verify_token(&raw_token(&key, payload))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 401, "{payload}");
    }
    assert_eq!((a.total_requests(), b.total_requests()), before);
    assert_eq!(evil.total_requests(), 0);
}

/// Duplicate members anywhere in the payload are refused in multi-issuer mode (the unverified
/// `iss` must be the one the claims check sees).
#[tokio::test]
async fn duplicate_members_refused() {
    let (auth, a, _b) = two_rsa_same_kid();
    let exp = NOW + 300;
    let payloads = [
        format!(
            r#"{{"iss":"https://a.example","iss":"https://b.example","aud":"api-a","exp":{exp}}}"#
        ),
        format!(
            r#"{{"iss":"https://a.example","i\u0073s":"https://b.example","aud":"api-a","exp":{exp}}}"#
        ),
        format!(r#"{{"iss":"https://a.example","aud":"api-b","aud":"api-a","exp":{exp}}}"#),
        format!(
            r#"{{"iss":"https://a.example","aud":"api-a","exp":{exp},"client_id":"x","client_id":"y"}}"#
        ),
        format!(r#"{{"iss":"https://a.example","aud":"api-a","exp":{exp},"n":{{"a":1,"a":2}}}}"#),
    ];
    for p in payloads {
        assert_eq!(
            auth.verify_token(&raw_token(&a, &p)).await.unwrap_err(),
            AuthError::Malformed(Malformed::DuplicateMember),
            "{p}"
        );
    }
    // Sanity: the same writer makes a valid token.
    let ok = format!(r#"{{"iss":"https://a.example","aud":"api-a","exp":{exp}}}"#);
    auth.verify_token(&raw_token(&a, &ok)).await.expect("valid");
}

/// `client_ids` rule: the first client-id claim present decides; wrong types refused.
#[tokio::test]
async fn client_id_rule_tricks() {
    let k = TestKey::rsa("k");
    let k2 = TestKey::rsa("k2");
    let yaml = format!(
        "auth_client:\n  leeway_seconds: 0\n  issuers:\n    - {{issuer: https://a.example, client_ids: [good], jwks_file: {}}}\n    - {{issuer: https://b.example, audience: api-b, client_ids: [good-b], jwks_file: {}}}\n",
        jwks_file("cid-a", &[&k]).display(),
        jwks_file("cid-b", &[&k2]).display()
    );
    let auth = build(&yaml).expect("valid");
    let t = |extra: &[(&str, Value)]| {
        let mut b = minted(&k, "https://a.example");
        for (n, v) in extra {
            b = b.claim(n, v.clone());
        }
        b.sign()
    };
    // Accepted: client_id; azp when client_id absent; no aud at all.
    for ok in [
        vec![("client_id", json!("good"))],
        vec![("azp", json!("good"))],
        vec![("appid", json!("good"))],
        vec![("client_id", json!("good")), ("azp", json!("bad"))],
    ] {
        auth.verify_token(&t(&ok))
            .await
            .unwrap_or_else(|e| panic!("{ok:?}: {e:?}"));
    }
    // Refused.
    for bad in [
        vec![],
        vec![("client_id", json!("bad")), ("azp", json!("good"))],
        vec![("client_id", Value::Null), ("azp", json!("good"))],
        vec![("client_id", json!(["good"]))],
        vec![("client_id", json!({"id": "good"}))],
        vec![("client_id", json!(true))],
        vec![("client_id", json!("good "))],
        vec![("client_id", json!("GOOD"))],
        vec![("client_id", json!("good-b"))],
        vec![("sub", json!("good"))],
    ] {
        assert_eq!(
            auth.verify_token(&t(&bad)).await.unwrap_err(),
            AuthError::WrongClient,
            "{bad:?}"
        );
    }
    // B: audience AND client rule both apply.
    let b_only_client = minted(&k2, "https://b.example")
        .claim("client_id", json!("good-b"))
        .sign();
    assert!(matches!(
        auth.verify_token(&b_only_client).await.unwrap_err(),
        AuthError::MissingClaim(_)
    ));
    let b_only_aud = minted(&k2, "https://b.example").audience("api-b").sign();
    assert_eq!(
        auth.verify_token(&b_only_aud).await.unwrap_err(),
        AuthError::WrongClient
    );
    // A's client with B's audience, signed by B.
    let b_cross = minted(&k2, "https://b.example")
        .audience("api-b")
        .claim("client_id", json!("good"))
        .sign();
    assert_eq!(
        auth.verify_token(&b_cross).await.unwrap_err(),
        AuthError::WrongClient
    );
}

/// With `client_ids` only, a token that names an audience all the same must name an allowed
/// client there: a token the issuer made for another resource server is not ours.
#[tokio::test]
async fn client_ids_only_ignores_aud_entirely() {
    let k = TestKey::rsa("k");
    let yaml = format!(
        "auth_client:\n  leeway_seconds: 0\n  issuer: https://a.example\n  client_ids: [good]\n  jwks_file: {}\n",
        jwks_file("cid-only", &[&k]).display()
    );
    let auth = build(&yaml).expect("valid");
    let t = minted(&k, "https://a.example")
        .audience("https://payments.other-api.example")
        .claim("client_id", json!("good"))
        .sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::WrongAudience
    );
    let t = minted(&k, "https://a.example")
        .claim("aud", json!(42))
        .claim("client_id", json!("good"))
        .sign();
    assert!(auth.verify_token(&t).await.is_err());
    // No `aud` (a Cognito access token), or `aud` naming the client: accepted.
    let t = minted(&k, "https://a.example")
        .claim("client_id", json!("good"))
        .sign();
    assert!(auth.verify_token(&t).await.is_ok());
    let t = minted(&k, "https://a.example")
        .audience("good")
        .claim("client_id", json!("good"))
        .sign();
    assert!(auth.verify_token(&t).await.is_ok());
}

/// `required_claim_values`: types other than the string (or a list of strings containing it).
#[tokio::test]
async fn required_claim_values_types() {
    let k = TestKey::rsa("k");
    let yaml = format!(
        "auth_client:\n  leeway_seconds: 0\n  issuer: https://a.example\n  audience: api\n  jwks_file: {}\n  required_claim_values:\n    token_use: access\n    level: \"2\"\n    flag: \"true\"\n",
        jwks_file("rcv", &[&k]).display()
    );
    let auth = build(&yaml).expect("valid");
    let t = |tu: Value, level: Value, flag: Value| {
        minted(&k, "https://a.example")
            .audience("api")
            .claim("token_use", tu)
            .claim("level", level)
            .claim("flag", flag)
            .sign()
    };
    let ok = [
        (json!("access"), json!("2"), json!("true")),
        (json!(["id", "access"]), json!(2), json!(true)),
    ];
    for (a, b, c) in ok {
        auth.verify_token(&t(a.clone(), b.clone(), c.clone()))
            .await
            .unwrap_or_else(|e| panic!("{a} {b} {c}: {e:?}"));
    }
    let bad_token_use = [
        json!("Access"),
        json!("access "),
        json!(null),
        json!({"access": true}),
        json!([["access"]]),
        json!([{"v": "access"}]),
        json!(["acc", "ess"]),
        json!(""),
        json!([]),
    ];
    for v in bad_token_use {
        assert_eq!(
            auth.verify_token(&t(v.clone(), json!("2"), json!("true")))
                .await
                .unwrap_err(),
            AuthError::WrongClaimValue,
            "{v}"
        );
    }
    for level in [json!(2.0), json!(20), json!("02"), json!([2]), json!(true)] {
        assert_eq!(
            auth.verify_token(&t(json!("access"), level.clone(), json!("true")))
                .await
                .unwrap_err(),
            AuthError::WrongClaimValue,
            "{level}"
        );
    }
    let missing = minted(&k, "https://a.example")
        .audience("api")
        .claim("level", json!("2"))
        .claim("flag", json!("true"))
        .sign();
    assert_eq!(
        auth.verify_token(&missing).await.unwrap_err(),
        AuthError::WrongClaimValue
    );
}

/// An entry without its own audience inherits the section's: intended ("inherits the
/// section's other keys"), recorded here. It is safe only while the audience names THIS API.
#[tokio::test]
async fn entry_without_audience_inherits_section_audience() {
    let a = TestKey::rsa("a");
    let b = TestKey::rsa("b");
    let yaml = format!(
        "auth_client:\n  audience: api\n  leeway_seconds: 0\n  issuers:\n    - {{issuer: https://a.example, jwks_file: {}}}\n    - {{issuer: https://b.example, jwks_file: {}}}\n",
        jwks_file("inh-aud-a", &[&a]).display(),
        jwks_file("inh-aud-b", &[&b]).display()
    );
    let auth = build(&yaml).expect("valid");
    let t = minted(&b, "https://b.example").audience("api").sign();
    assert!(auth.verify_token(&t).await.is_ok());
    let t = minted(&b, "https://b.example").audience("other").sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::WrongAudience
    );
}

/// An entry given in code stands alone: it does NOT inherit the parent builder's secret.
#[test]
fn also_trust_entry_inherits_nothing() {
    let r = AuthConfig::builder()
        .issuer("https://a.example")
        .audience("api")
        .accepted_algorithms(["HS256"])
        .shared_secret(SECRET)
        .also_trust(AuthConfig::builder().issuer("https://b.example"))
        .build();
    let err = r.unwrap_err().to_string();
    assert!(err.contains("audience"), "{err}");
}

/// The section's shared secret belongs to the section's issuer: an entry with its own key file
/// never verifies with it (a token of B HMAC-signed with A's secret is refused).
#[tokio::test]
async fn entry_mixing_inherited_secret_and_own_jwks_refused() {
    let a = TestKey::rsa("a");
    let yaml = format!(
        "auth_client:\n  issuer: https://a.example\n  audience: api\n  accepted_algorithms: [HS256]\n  shared_secret: \"{SECRET}\"\n  issuers:\n    - {{issuer: https://b.example, accepted_algorithms: [RS256], jwks_file: {}}}\n",
        jwks_file("mix", &[&a]).display()
    );
    let auth = build(&yaml).expect("valid");
    let hs = TestKey::hmac("a", portcullis_core::Algorithm::HS256, SECRET.as_bytes());
    let forged = minted(&hs, "https://b.example").audience("api").sign();
    assert!(auth.verify_token(&forged).await.is_err());
}

/// The cache never serves a token under another issuer: a key removed from B invalidates B's
/// cached tokens only (checked with remote issuers and a refresh on an unknown kid).
#[tokio::test]
async fn cache_key_removal_is_per_issuer() {
    let ka = TestKey::rsa("same");
    let kb = TestKey::rsa("same");
    let kb2 = TestKey::rsa("b-new");
    let ia = TestIssuer::start(&[&ka]).await;
    let ib = TestIssuer::start(&[&kb]).await;
    let config = AuthConfig::builder()
        .also_trust(
            AuthConfig::builder()
                .issuer(ia.issuer())
                .audience("api")
                .jwks_refresh_cooldown_seconds(1),
        )
        .also_trust(
            AuthConfig::builder()
                .issuer(ib.issuer())
                .audience("api")
                .jwks_refresh_cooldown_seconds(1),
        )
        .build()
        .unwrap();
    let clock = ManualClock::new(NOW);
    let auth = Authenticator::builder(config)
        .clock(clock.clone())
        .build()
        .unwrap();
    let ta = minted(&ka, &ia.issuer())
        .audience("api")
        .lifetime(3600)
        .sign();
    let tb = minted(&kb, &ib.issuer())
        .audience("api")
        .lifetime(3600)
        .sign();
    auth.verify_token(&ta).await.expect("a");
    auth.verify_token(&tb).await.expect("b");
    assert_eq!(auth.cached_tokens(), 2);
    // B rotates: the old `same` key goes, a new one comes; an unknown kid makes B refresh.
    ib.set_keys(&[&kb2]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    clock.advance(2);
    let tb2 = minted(&kb2, &ib.issuer())
        .audience("api")
        .lifetime(3600)
        .sign();
    auth.verify_token(&tb2).await.expect("b's new key");
    assert_eq!(
        auth.verify_token(&tb).await.unwrap_err(),
        AuthError::UnknownKey,
        "B's token under a removed key must not come from the cache"
    );
    // A's token (same kid as B's removed key) still verifies.
    assert_eq!(
        auth.verify_token(&ta).await.unwrap().verifying_issuer(),
        Some(ia.issuer().as_str())
    );
}

/// Nothing a rejection writes to the log carries the token, its payload, or a hostile `iss`.
#[tokio::test]
async fn logs_never_echo_token_or_hostile_iss() {
    let buf = LogBuffer::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // Global: a thread-local default misses callsites other tests' threads registered first.
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets one");
    let (auth, a, b) = two_rsa_same_kid();
    let marker = "SECRETMARKER";
    let mut tokens = vec![
        minted(&a, &format!("https://{marker}.evil"))
            .audience("api-a")
            .sign(),
        minted(&a, "https://a.example/").audience(marker).sign(),
        minted(&b, "https://a.example")
            .audience("api-a")
            .claim("x", json!(marker))
            .sign(),
        minted(&a, "https://a.example")
            .audience("api-a")
            .claim("client_id", json!(marker))
            .lifetime(-10)
            .sign(),
    ];
    tokens.push(raw_token(&a, &format!(r#"{{"iss":"{marker}","iss":"x"}}"#)));
    for t in &tokens {
        let header = format!("Bearer {t}");
        let creds = RequestCredentials::new(
            AuthorizationHeader::from(header.as_str()),
            AuthorizationHeader::Absent,
        );
        let _ = auth.authenticate_credentials(&creds).await;
    }
    let out = buf.text();
    assert!(!out.is_empty(), "logging captured");
    assert!(!out.contains(marker), "a hostile value was logged:\n{out}");
    for t in &tokens {
        let (head, rest) = t.split_once('.').unwrap();
        let payload = rest.split_once('.').unwrap().0;
        assert!(
            !out.contains(payload) && !out.contains(head),
            "token part logged:\n{out}"
        );
    }
}

/// Single issuer: unchanged behaviour (no pre-selection; trailing slash and unknown `iss`).
#[tokio::test]
async fn single_issuer_behaviour_holds() {
    let (auth, _) = default_auth();
    assert_eq!(
        auth.verify_token(&token(&RSA).issuer("https://issuer.test/").sign())
            .await
            .unwrap_err(),
        AuthError::WrongIssuer
    );
    assert_eq!(
        auth.verify_token(&token(&RSA).issuer("https://other").sign())
            .await
            .unwrap_err(),
        AuthError::WrongIssuer
    );
    let c = auth.verify_token(&token(&RSA).sign()).await.unwrap();
    assert_eq!(c.verifying_issuer(), Some(ISS));
    let dup = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"sub":"a","sub":"b"}}"#,
        NOW + 100
    );
    assert_eq!(
        auth.verify_token(&raw_token(&RSA, &dup)).await.unwrap_err(),
        AuthError::Malformed(Malformed::DuplicateMember)
    );
    // Single-issuer config with a schemeless issuer and no keys: refused.
    assert!(AuthConfig::builder()
        .issuer("accounts.google.com")
        .audience("x")
        .build()
        .is_err());
}
