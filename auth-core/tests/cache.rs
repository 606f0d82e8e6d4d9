//! The verified-token cache: bounded, admits only verified tokens, and a hit re-checks
//! everything that can change (expiry, the key, revocation, the application's rule). The
//! conformance suite covers expiry, revocation and key removal while cached over HTTP.

mod common;

use common::*;
use portcullis_core::AuthError;
use serde_json::json;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn a_repeated_token_is_cached_and_a_forged_one_never_is() {
    let (auth, _) = default_auth();
    let token = token(&ED).sign();
    for _ in 0..3 {
        assert!(auth.verify_token(&token).await.is_ok());
    }
    assert_eq!(auth.cached_tokens(), 1);
    // A flood of forged and garbage tokens admits nothing.
    for i in 0..2_000u32 {
        let forged = token_tampered(i);
        assert!(auth.verify_token(&forged).await.is_err());
    }
    assert_eq!(auth.cached_tokens(), 1);
}

fn token_tampered(i: u32) -> String {
    let mut t = token(&ED).claim("n", json!(i)).sign();
    t.pop();
    t.push(if i.is_multiple_of(2) { 'A' } else { 'B' });
    t.insert(t.len() - 5, '_');
    t
}

#[tokio::test]
async fn the_cache_holds_at_most_its_configured_entries() {
    let (auth, _) = authenticator(
        config().cache_max_entries(500).cache_max_bytes(1 << 20),
        &[&ED],
    );
    for i in 0..3_000u32 {
        let t = token(&ED).subject(&format!("user-{i}")).sign();
        assert!(auth.verify_token(&t).await.is_ok());
    }
    assert!(auth.cached_tokens() <= 500, "{}", auth.cached_tokens());
    assert!(auth.cached_tokens() > 0);
}

#[tokio::test]
async fn no_cache_when_turned_off() {
    let (auth, _) = authenticator(config().cache_max_entries(0), &[&ED]);
    let t = token(&ED).sign();
    assert!(auth.verify_token(&t).await.is_ok());
    assert!(auth.verify_token(&t).await.is_ok());
    assert_eq!(auth.cached_tokens(), 0);
}

#[tokio::test]
async fn a_cached_token_expires_on_time() {
    let (auth, clock) = authenticator(config().leeway_seconds(0), &[&ED]);
    let t = token(&ED).lifetime(60).sign();
    assert!(auth.verify_token(&t).await.is_ok());
    clock.advance(59);
    assert!(auth.verify_token(&t).await.is_ok());
    clock.advance(1);
    assert_eq!(auth.verify_token(&t).await.unwrap_err(), AuthError::Expired);
}

#[tokio::test]
async fn the_claims_rule_runs_on_every_hit() {
    let (blocked, rule) = switchable_rule();
    let auth = portcullis_core::Authenticator::builder(config().build().expect("config"))
        .key_source(
            portcullis_core::StaticKeys::from_jwks(&portcullis_core::testkit::TestKey::jwks(&[
                &ED,
            ]))
            .expect("jwks"),
        )
        .clock(portcullis_core::testkit::ManualClock::new(NOW))
        .validate_claims(rule)
        .build()
        .expect("authenticator");
    let t = token(&ED).sign();
    assert!(auth.verify_token(&t).await.is_ok());
    assert_eq!(auth.cached_tokens(), 1);
    blocked.store(true, Ordering::SeqCst);
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::ClaimsRejected { forbidden: true }
    );
}

#[tokio::test]
async fn agent_tokens_are_not_cached() {
    let (auth, _) = default_auth();
    let agent = format!(
        "Bearer {}",
        token(&EC256)
            .subject("a")
            .claim("scopes", json!(["x"]))
            .sign()
    );
    assert!(auth
        .authenticate_agent(portcullis_core::AuthorizationHeader::from(agent.as_str()))
        .await
        .is_ok());
    assert_eq!(auth.cached_tokens(), 0);
}

#[tokio::test]
async fn a_clock_that_steps_back_is_answered_as_a_full_check_would() {
    let (auth, clock) = authenticator(config().leeway_seconds(0), &[&ED]);
    let nbf = token(&ED).claim("nbf", json!(NOW)).sign();
    let iat = token(&ED).claim("iat", json!(NOW)).sign();
    assert!(auth.verify_token(&nbf).await.is_ok());
    assert!(auth.verify_token(&iat).await.is_ok());
    assert_eq!(auth.cached_tokens(), 2);
    clock.set(NOW - 100);
    assert_eq!(
        auth.verify_token(&nbf).await.unwrap_err(),
        AuthError::NotYetValid
    );
    assert_eq!(
        auth.verify_token(&iat).await.unwrap_err(),
        AuthError::IssuedInFuture
    );
}

#[tokio::test]
async fn bulky_claims_are_weighed_by_their_shape_not_their_text() {
    // 2,900 zeros: 6 KB of text, about 280 KB once parsed.
    let (auth, _) = authenticator(
        config()
            .cache_max_entries(10_000)
            .cache_max_bytes(1 << 20)
            .max_token_bytes(16_384),
        &[&ED],
    );
    for i in 0..200u32 {
        let t = token(&ED)
            .subject(&format!("u{i}"))
            .claim("x", json!(vec![0; 2_900]))
            .sign();
        assert!(auth.verify_token(&t).await.is_ok());
    }
    // 1 MiB holds at most four such entries.
    assert!(auth.cached_tokens() <= 4, "{}", auth.cached_tokens());
}
