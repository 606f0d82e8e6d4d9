//! Remote key sets and revocation, each case against the local test issuer over real HTTP.

use portcullis_core::remote::{FetchError, HttpFetcher, RemoteKeys};
use portcullis_core::testkit::{
    Behavior, ManualClock, TestIssuer, TestKey, DISCOVERY_PATH, JWKS_PATH, REVOCATION_PATH,
};
use portcullis_core::{AuthConfig, AuthConfigBuilder, AuthError, Authenticator, KeySource};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const AUD: &str = "api";
const T0: i64 = 1_700_000_000;

fn config(issuer: &TestIssuer) -> AuthConfigBuilder {
    AuthConfig::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .accepted_algorithms(["RS256", "ES256"])
        .http_timeout_seconds(1)
}

fn build(config: AuthConfigBuilder) -> (Authenticator, ManualClock) {
    let clock = ManualClock::new(T0);
    let auth = Authenticator::builder(config.build().expect("config"))
        .clock(clock.clone())
        .build()
        .expect("authenticator");
    (auth, clock)
}

fn token(issuer: &TestIssuer, key: &TestKey, clock: &ManualClock) -> String {
    issuer
        .token(key, AUD)
        .now(clock.now())
        .subject("user-1")
        .sign()
}

#[tokio::test]
async fn discovery_then_rotation_needs_exactly_one_fetch() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    let (auth, clock) = build(config(&issuer));
    assert!(auth
        .verify_token(&token(&issuer, &k1, &clock))
        .await
        .is_ok());
    assert_eq!(issuer.requests(DISCOVERY_PATH), 1);
    assert_eq!(issuer.requests(JWKS_PATH), 1);

    let k2 = TestKey::ec_p256("k2");
    issuer.add_key(&k2);
    assert!(auth
        .verify_token(&token(&issuer, &k2, &clock))
        .await
        .is_ok());
    assert_eq!(issuer.requests(JWKS_PATH), 2, "one fetch for the new kid");
    assert_eq!(issuer.requests(DISCOVERY_PATH), 1, "discovery is cached");
    // Both keys now verify with no further fetch.
    assert!(auth
        .verify_token(&token(&issuer, &k1, &clock))
        .await
        .is_ok());
    assert!(auth
        .verify_token(&token(&issuer, &k2, &clock))
        .await
        .is_ok());
    assert_eq!(issuer.requests(JWKS_PATH), 2);
}

#[tokio::test]
async fn forged_kids_within_one_cooldown_cause_at_most_one_fetch() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    let (auth, clock) = build(config(&issuer).jwks_endpoint(issuer.jwks_url()));
    assert!(auth
        .verify_token(&token(&issuer, &k1, &clock))
        .await
        .is_ok());
    let before = issuer.requests(JWKS_PATH);

    let forged: Vec<String> = (0..1000)
        .map(|i| {
            issuer
                .token(&k1, AUD)
                .now(clock.now())
                .header("kid", json!(format!("forged-{i}-{}", i * 7919)))
                .sign()
        })
        .collect();
    let mut tasks = Vec::new();
    for chunk in forged.chunks(100) {
        let (auth, chunk) = (auth.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for t in chunk {
                assert_eq!(
                    auth.verify_token(&t).await.unwrap_err(),
                    AuthError::UnknownKey
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        issuer.requests(JWKS_PATH) - before <= 1,
        "{} fetches",
        issuer.requests(JWKS_PATH) - before
    );
    assert_eq!(
        issuer.requests(DISCOVERY_PATH),
        0,
        "jwks_endpoint set: no discovery"
    );

    // After the cooldown, an unknown kid may fetch again.
    clock.advance(31);
    let t = issuer
        .token(&k1, AUD)
        .now(clock.now())
        .header("kid", json!("later"))
        .sign();
    assert_eq!(
        auth.verify_token(&t).await.unwrap_err(),
        AuthError::UnknownKey
    );
    assert!(issuer.requests(JWKS_PATH) - before <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_a_new_kid_share_one_fetch() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    let (auth, clock) = build(config(&issuer).jwks_endpoint(issuer.jwks_url()));
    assert!(auth
        .verify_token(&token(&issuer, &k1, &clock))
        .await
        .is_ok());
    let before = issuer.requests(JWKS_PATH);

    let k2 = TestKey::ec_p256("k2");
    issuer.add_key(&k2);
    let t = token(&issuer, &k2, &clock);
    let barrier = Arc::new(tokio::sync::Barrier::new(500));
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            let (auth, t, barrier) = (auth.clone(), t.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                auth.verify_token(&t).await.is_ok()
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    assert_eq!(issuer.requests(JWKS_PATH) - before, 1);
}

#[tokio::test]
async fn cached_keys_survive_an_issuer_outage() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    let (auth, clock) = build(
        config(&issuer)
            .jwks_ttl_seconds(60)
            .jwks_max_stale_seconds(3600),
    );
    assert!(auth
        .verify_token(&token(&issuer, &k1, &clock))
        .await
        .is_ok());

    for outage in [
        Behavior::Status(500),
        Behavior::Garbage,
        Behavior::RefuseConnections,
        Behavior::Slow(Duration::from_secs(3)),
    ] {
        issuer.set_behavior_all(outage.clone());
        clock.advance(61); // past the TTL: a refresh is due and fails
        assert!(
            auth.verify_token(&token(&issuer, &k1, &clock))
                .await
                .is_ok(),
            "{outage:?}"
        );
        // A forged kid still fails with 401, not 500/503.
        let t = issuer
            .token(&k1, AUD)
            .now(clock.now())
            .header("kid", json!("nope"))
            .sign();
        assert_eq!(
            auth.verify_token(&t).await.unwrap_err(),
            AuthError::UnknownKey,
            "{outage:?}"
        );
    }
    issuer.set_behavior_all(Behavior::Normal);
    // Beyond TTL + max stale, without a successful refresh, the keys are no longer used.
    issuer.set_behavior_all(Behavior::Status(503));
    clock.advance(4000);
    let err = auth
        .verify_token(&token(&issuer, &k1, &clock))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::KeysUnavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn no_keys_ever_is_503_within_the_timeout() {
    let k1 = TestKey::ec_p256("k1");
    for outage in [
        Behavior::RefuseConnections,
        Behavior::Status(500),
        Behavior::Slow(Duration::from_secs(5)),
    ] {
        let issuer = TestIssuer::start(&[&k1]).await;
        issuer.set_behavior_all(outage.clone());
        let started = Instant::now();
        let (auth, clock) = build(config(&issuer).jwks_endpoint(issuer.jwks_url()));
        let err = auth
            .verify_token(&token(&issuer, &k1, &clock))
            .await
            .unwrap_err();
        assert!(
            matches!(err, AuthError::KeysUnavailable { .. }),
            "{outage:?}: {err:?}"
        );
        let r = err.to_response();
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, r#"{"detail":"Authentication service unavailable"}"#)
        );
        assert!(r.retry_after.is_some());
        // Bounded by the 1 s HTTP timeout (generous margin for a loaded machine).
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{outage:?} took {:?}",
            started.elapsed()
        );
        // Once the issuer is back, the next request after the cooldown recovers.
        issuer.set_behavior_all(Behavior::Normal);
        clock.advance(31);
        assert!(
            auth.verify_token(&token(&issuer, &k1, &clock))
                .await
                .is_ok(),
            "{outage:?}"
        );
    }
}

#[tokio::test]
async fn a_request_at_ttl_expiry_does_not_wait_for_the_refresh() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    let (auth, clock) = build(
        config(&issuer)
            .jwks_endpoint(issuer.jwks_url())
            .jwks_ttl_seconds(60),
    );
    assert!(auth
        .verify_token(&token(&issuer, &k1, &clock))
        .await
        .is_ok());
    let before = issuer.requests(JWKS_PATH);

    issuer.set_behavior(JWKS_PATH, Behavior::Hold);
    clock.advance(60);
    // The issuer holds every answer until released: if verification waited for the
    // refresh, this would hang until the test's own timeout.
    let verified = tokio::time::timeout(
        Duration::from_secs(20),
        auth.verify_token(&token(&issuer, &k1, &clock)),
    )
    .await
    .expect("verification must not wait for the held refresh");
    assert!(verified.is_ok());
    // The background refresh is under way (held at the issuer).
    for _ in 0..200 {
        if issuer.requests(JWKS_PATH) > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(issuer.requests(JWKS_PATH), before + 1);
    issuer.release();
}

#[tokio::test]
async fn etag_and_max_age_are_honoured() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    issuer.set_max_age(Some(10));
    let clock = ManualClock::new(T0);
    let config = config(&issuer)
        .jwks_endpoint(issuer.jwks_url())
        .build()
        .unwrap();
    let keys = RemoteKeys::with_clock(
        &config,
        HttpFetcher::new(Duration::from_secs(1)),
        Arc::new(clock.clone()),
    );
    keys.refresh_now().await.unwrap();
    assert!(keys.has_keys());
    // max-age 10 < ttl 300: due for refresh after 8 s (80 %).
    clock.advance(8);
    assert!(keys.current().is_ok());
    for _ in 0..200 {
        if issuer.requests(JWKS_PATH) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        issuer.requests(JWKS_PATH),
        2,
        "max-age shortened the lifetime"
    );
    // The unchanged set came back as 304 and the keys are still there.
    keys.refresh_now().await.unwrap();
    assert!(keys.has_keys());
}

#[tokio::test]
async fn unusable_keys_are_skipped_not_fatal() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[]).await;
    issuer.add_raw_jwk(json!({"kty": "RSA", "kid": "tiny", "n": "AQAB", "e": "AQAB"}));
    issuer.add_raw_jwk(
        json!({"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256", "x": "AA", "y": "AA"}),
    );
    issuer.add_key(&k1);
    let (auth, clock) = build(config(&issuer));
    assert!(auth
        .verify_token(&token(&issuer, &k1, &clock))
        .await
        .is_ok());
}

async fn fetch_error(config: AuthConfigBuilder) -> FetchError {
    let config = config.build().unwrap();
    let keys = RemoteKeys::from_config(&config, HttpFetcher::new(Duration::from_secs(1)));
    keys.refresh_now().await.unwrap_err()
}

#[tokio::test]
async fn clear_errors_for_a_broken_issuer() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;

    issuer.set_discovery_issuer(Some("https://someone-else.example"));
    let e = fetch_error(config(&issuer)).await.to_string();
    assert!(
        e.contains("discovery document names issuer \"https://someone-else.example\""),
        "{e}"
    );
    assert!(e.contains("they must be equal"), "{e}");
    issuer.set_discovery_issuer(None);

    issuer.set_jwks_uri(Some("http://keys.example.com/jwks"));
    let e = fetch_error(config(&issuer)).await;
    assert_eq!(
        e,
        FetchError::InsecureUrl("http://keys.example.com/jwks".into())
    );
    assert!(e.to_string().contains("only https"), "{e}");
    issuer.set_jwks_uri(None);

    issuer.set_behavior(DISCOVERY_PATH, Behavior::Status(404));
    let e = fetch_error(config(&issuer)).await.to_string();
    assert!(
        e.contains("HTTP 404") && e.contains("set auth_client.jwks_endpoint"),
        "{e}"
    );
    assert!(e.contains("/api/v1/auth/jwks"), "{e}");

    issuer.set_behavior(JWKS_PATH, Behavior::Oversized(2 * 1024 * 1024));
    let e = fetch_error(config(&issuer).jwks_endpoint(issuer.jwks_url())).await;
    assert!(matches!(e, FetchError::TooLarge(_)), "{e:?}");

    // Redirects may not leave https (or loopback http).
    issuer.set_behavior(
        JWKS_PATH,
        Behavior::Redirect("http://keys.example.com/jwks".into()),
    );
    let e = fetch_error(config(&issuer).jwks_endpoint(issuer.jwks_url())).await;
    assert!(
        matches!(
            e,
            FetchError::Transport {
                reason: "redirect refused",
                ..
            }
        ),
        "{e:?}"
    );
    // A loopback redirect is followed.
    issuer.set_behavior("/elsewhere", Behavior::Redirect(issuer.jwks_url()));
    issuer.set_behavior(JWKS_PATH, Behavior::Normal);
    let config_ok = config(&issuer)
        .jwks_endpoint(format!("{}/elsewhere", issuer.issuer()))
        .build()
        .unwrap();
    let keys = RemoteKeys::from_config(&config_ok, HttpFetcher::new(Duration::from_secs(1)));
    assert!(keys.refresh_now().await.is_ok());

    issuer.set_behavior(JWKS_PATH, Behavior::Garbage);
    let e = fetch_error(config(&issuer).jwks_endpoint(issuer.jwks_url()))
        .await
        .to_string();
    assert!(e.contains("key set is not a JSON object"), "{e}");
}

#[tokio::test]
async fn revoked_jti_is_rejected_within_one_ttl() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    let (auth, clock) = build(
        config(&issuer)
            .revocation_endpoint(issuer.revocation_url())
            .revocation_ttl_seconds(15)
            .revocation_bearer("poll-secret"),
    );
    let t = issuer
        .token(&k1, AUD)
        .now(clock.now())
        .claim("jti", json!("j-1"))
        .sign();
    assert!(auth.verify_token(&t).await.is_ok());
    assert_eq!(
        issuer.last_authorization(REVOCATION_PATH).as_deref(),
        Some("Bearer poll-secret")
    );
    let polls = issuer.requests(REVOCATION_PATH);

    issuer.revoke("j-1");
    // Within the TTL the cached list is used: no poll per request.
    assert!(auth.verify_token(&t).await.is_ok());
    assert_eq!(issuer.requests(REVOCATION_PATH), polls);
    // After one TTL the background poll picks the revocation up.
    clock.advance(15);
    let _ = auth.verify_token(&t).await;
    let mut result = Ok(());
    for _ in 0..300 {
        result = auth.verify_token(&t).await.map(|_| ());
        if result.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = result.unwrap_err();
    assert_eq!(err, AuthError::Revoked);
    assert_eq!(
        err.to_response().body,
        r#"{"detail":"Token has been revoked"}"#
    );
    // Other tokens still pass.
    let other = issuer
        .token(&k1, AUD)
        .now(clock.now())
        .claim("jti", json!("j-2"))
        .sign();
    assert!(auth.verify_token(&other).await.is_ok());
    // A token without jti can never be revoked, so it is refused where revocation is on.
    let no_jti = token(&issuer, &k1, &clock);
    assert_eq!(
        auth.verify_token(&no_jti).await.unwrap_err(),
        AuthError::MissingClaim("jti".into())
    );
}

#[tokio::test]
async fn revocation_fails_closed_by_default_and_open_when_asked() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    issuer.set_behavior(REVOCATION_PATH, Behavior::Status(500));
    let (closed, clock) = build(config(&issuer).revocation_endpoint(issuer.revocation_url()));
    let (open, _) = build(
        config(&issuer)
            .revocation_endpoint(issuer.revocation_url())
            .revocation_fail_open(true),
    );
    let t = issuer
        .token(&k1, AUD)
        .now(clock.now())
        .claim("jti", json!("j-1"))
        .sign();
    let err = closed.verify_token(&t).await.unwrap_err();
    assert!(
        matches!(err, AuthError::RevocationUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(err.status(), 503);
    assert!(open.verify_token(&t).await.is_ok());
    // Fail-open still needs a jti.
    assert_eq!(
        open.verify_token(&token(&issuer, &k1, &clock))
            .await
            .unwrap_err(),
        AuthError::MissingClaim("jti".into())
    );
}

#[tokio::test]
async fn revoked_stays_revoked_when_the_list_later_fails() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    issuer.revoke("gone");
    let (auth, clock) = build(
        config(&issuer)
            .revocation_endpoint(issuer.revocation_url())
            .revocation_fail_open(true),
    );
    let t = issuer
        .token(&k1, AUD)
        .now(clock.now())
        .claim("jti", json!("gone"))
        .sign();
    assert_eq!(auth.verify_token(&t).await.unwrap_err(), AuthError::Revoked);
    issuer.set_behavior(REVOCATION_PATH, Behavior::Status(500));
    clock.advance(20);
    for _ in 0..5 {
        assert_eq!(auth.verify_token(&t).await.unwrap_err(), AuthError::Revoked);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_unreachable_issuer_does_not_stop_the_application() {
    let config = AuthConfig::builder()
        .issuer("http://127.0.0.1:9")
        .audience(AUD)
        .http_timeout_seconds(1)
        .build()
        .unwrap();
    let auth = Authenticator::builder(config).build();
    assert!(auth.is_ok(), "start-up must not need the issuer");
}

#[tokio::test]
async fn fetch_errors_never_show_a_query_string() {
    let k1 = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&k1]).await;
    issuer.set_behavior(REVOCATION_PATH, Behavior::Status(500));
    let config = config(&issuer)
        .revocation_endpoint(format!(
            "{}?access_token=SECRET-in-query",
            issuer.revocation_url()
        ))
        .build()
        .unwrap();
    let list = portcullis_core::remote::RevocationList::from_config(
        &config,
        HttpFetcher::new(Duration::from_secs(1)),
    )
    .unwrap();
    let e = list.refresh_now().await.unwrap_err();
    let shown = format!("{e} {e:?} {list:?}");
    assert!(
        shown.contains(REVOCATION_PATH) && shown.contains("HTTP 500"),
        "{shown}"
    );
    assert!(!shown.contains("SECRET"), "{shown}");
    issuer.set_behavior(JWKS_PATH, Behavior::Garbage);
    let e = fetch_error(config_with_jwks(&issuer, "?key=SECRET-2")).await;
    assert!(!format!("{e} {e:?}").contains("SECRET"), "{e}");
}

fn config_with_jwks(issuer: &TestIssuer, query: &str) -> AuthConfigBuilder {
    config(issuer).jwks_endpoint(format!("{}{query}", issuer.jwks_url()))
}
