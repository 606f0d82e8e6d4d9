//! Observability: each decision is counted through the `metrics` facade, and the readiness
//! signal follows the issuer down and back up. (The `portcullis.verify` span is tested in
//! `logging.rs`, where every test installs a subscriber: `tracing` caches a callsite's interest
//! process-wide, so a span test must not share a binary with tests that run without one.)

mod common;

use common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use portcullis_core::testkit::{Behavior, ManualClock, TestIssuer, TestKey};
use portcullis_core::{AuthConfig, Authenticator, Requirement};
use std::time::{Duration, Instant};

/// The value of a counter with these labels (0 when never incremented).
fn counter(
    snapshot: &[(
        CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )],
    name: &str,
    labels: &[(&str, &str)],
) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| key.kind() == MetricKind::Counter && key.key().name() == name)
        .filter(|(key, ..)| {
            labels
                .iter()
                .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn decisions_are_counted_by_outcome_and_reason() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (auth, _) = default_auth();
        let good = token(&RSA).roles(&["user"]).sign();
        let forged = token(&RSA).tamper_signature().sign();
        runtime.block_on(async {
            assert!(auth.verify_token(&good).await.is_ok());
            assert!(auth.verify_token(&good).await.is_ok()); // a cache hit
            assert!(auth.verify_token(&forged).await.is_err());
            assert!(auth.authenticate(None).await.is_err());
            // A requirement the caller does not meet, decided by the core.
            let header = format!("Bearer {good}");
            assert!(auth
                .authorize(header.as_str(), &Requirement::any_role(["admin"]))
                .await
                .is_err());
        });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let decisions = "portcullis_decisions_total";
    assert_eq!(
        counter(
            &snapshot,
            decisions,
            &[("outcome", "accepted"), ("reason", "verified")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            decisions,
            &[("outcome", "accepted"), ("reason", "cached")]
        ),
        2
    );
    assert_eq!(
        counter(
            &snapshot,
            decisions,
            &[("outcome", "rejected"), ("reason", "bad_signature")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            decisions,
            &[("outcome", "rejected"), ("reason", "missing_token")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            decisions,
            &[("outcome", "denied"), ("reason", "insufficient_role")]
        ),
        1
    );
    assert_eq!(counter(&snapshot, "portcullis_cache_hits_total", &[]), 2);
    assert!(counter(&snapshot, "portcullis_cache_misses_total", &[]) >= 2);
}

/// Polls `auth.readiness()` until `want` (bounded: the background fetch is real HTTP).
async fn until_ready_is(auth: &Authenticator, want: bool) -> portcullis_core::Readiness {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = auth.readiness();
        if r.ready == want || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn readiness_follows_the_issuer_down_and_back_up() {
    let key = TestKey::ec_p256("k1");
    let issuer = TestIssuer::start(&[&key]).await;
    let clock = ManualClock::new(1_700_000_000);
    let config = AuthConfig::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .accepted_algorithms(["ES256"])
        .jwks_ttl_seconds(60)
        .jwks_max_stale_seconds(3600)
        .http_timeout_seconds(1)
        .build()
        .expect("config");
    let auth = Authenticator::builder(config)
        .clock(clock.clone())
        .build()
        .expect("authenticator");

    let up = until_ready_is(&auth, true).await;
    assert!(up.ready && up.keys.loaded && up.keys.fresh, "{up:?}");
    assert_eq!(up.to_json()["ready"], true);

    // The issuer goes down and the keys' time to live passes: not ready, although the cached
    // keys are still usable (within max stale), and the failure is named.
    issuer.set_behavior_all(Behavior::Status(500));
    clock.advance(61);
    let down = until_ready_is(&auth, false).await;
    assert!(!down.ready, "{down:?}");
    assert!(down.keys_usable(), "{down:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while auth.readiness().keys.last_error.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let down = auth.readiness();
    assert!(
        down.keys
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("500")),
        "{down:?}"
    );
    assert_eq!(down.to_json()["keys"]["fresh"], false);

    // Back up: the next probes refresh and it is ready again.
    issuer.set_behavior_all(Behavior::Normal);
    let back = until_ready_is(&auth, true).await;
    assert!(back.ready && back.keys.last_error.is_none(), "{back:?}");
}

#[test]
fn disabled_authentication_is_ready_and_says_it_is_disabled() {
    let auth = Authenticator::builder(
        AuthConfig::builder()
            .enabled(false)
            .build()
            .expect("config"),
    )
    .build()
    .expect("authenticator");
    let r = auth.readiness();
    assert!(r.ready && !r.enabled);
    assert_eq!(r.to_json()["enabled"], false);
}
