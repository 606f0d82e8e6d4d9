//! Auth decisions are logged (outcome, reason, kid, sub); tokens and secrets never are.

mod common;

use common::*;
use portcullis_core::{Authenticator, Requirement};
use serde_json::json;

/// Every log line at debug level and above, into a buffer, for this thread; and a runtime.
fn capture() -> (
    LogBuffer,
    tracing::subscriber::DefaultGuard,
    tokio::runtime::Runtime,
) {
    use tracing_subscriber::fmt::format::FmtSpan;
    let (buffer, guard) = capture_logs(tracing::Level::DEBUG, FmtSpan::NONE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (buffer, guard, runtime)
}

#[test]
fn decisions_are_logged_without_tokens_or_secrets() {
    let (buffer, _guard, runtime) = capture();

    let secret = "s3cr3t-value-s3cr3t-value-s3cr3t-value";
    let tokens = runtime.block_on(async {
        let (auth, _) = default_auth();
        let good = token(&RSA).roles(&["user"]).sign();
        let bad_sig = token(&RSA)
            .header("kid", json!("rsa-1"))
            .tamper_signature()
            .sign();
        let long_kid = token(&RSA)
            .header("kid", json!(format!("evil\n{}", "k".repeat(500))))
            .sign();
        for t in [&good, &bad_sig, &long_kid] {
            let _ = auth
                .authorize(
                    Some(format!("Bearer {t}").as_str()),
                    &Requirement::any_role(["admin"]),
                )
                .await;
        }
        // An HMAC configuration: its secret must never be printed either.
        let config = config()
            .accepted_algorithms(["HS256"])
            .shared_secret(secret)
            .build()
            .unwrap();
        let hs = Authenticator::builder(config).build().unwrap();
        let _ = hs.verify_token(&good).await;
        tracing::info!(config = ?hs.config(), "configuration");
        vec![good, bad_sig, long_kid]
    });

    let logs = buffer.text();
    assert!(
        logs.contains("outcome=\"denied\"") && logs.contains("reason=\"insufficient_role\""),
        "{logs}"
    );
    assert!(logs.contains("sub=\"user-123\""), "{logs}");
    assert!(
        logs.contains("reason=\"bad_signature\"") && logs.contains("kid=\"rsa-1\""),
        "{logs}"
    );
    for t in &tokens {
        for segment in t.split('.') {
            assert!(!logs.contains(segment), "a token segment reached the log");
        }
    }
    assert!(!logs.contains(secret), "the shared secret reached the log");
    assert!(
        !logs.contains(&"k".repeat(100)),
        "an unbounded kid reached the log"
    );
    assert!(
        !logs.contains("evil\n"),
        "a control character from a kid reached the log"
    );
}

#[test]
fn misconfigurations_that_never_match_are_said_out_loud() {
    // A template issuer is refused at start.
    let error = portcullis_core::AuthConfig::builder()
        .issuer("https://login.microsoftonline.com/{tenantid}/v2.0")
        .audience("api")
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("template"), "{error}");
    // A comma-joined audience is a warning at start.
    let config = portcullis_core::AuthConfig::builder()
        .issuer(ISS)
        .audience("api-1,api-2")
        .build()
        .expect("config");
    assert_eq!(config.never_matching().len(), 1);

    // A token whose `iss` differs only by a trailing slash: a debug hint, never in the answer.
    let (buffer, _guard, runtime) = capture();
    let error = runtime.block_on(async {
        let (auth, _) = default_auth();
        let slash = token(&RSA).issuer(&format!("{ISS}/")).sign();
        auth.verify_token(&slash).await.unwrap_err()
    });
    assert_eq!(error, portcullis_core::AuthError::WrongIssuer);
    assert!(!error.to_response().body.contains("slash"));
    let logs = buffer.text();
    assert!(logs.contains("trailing slash"), "{logs}");
}

#[test]
fn each_decision_runs_in_a_span_with_its_outcome_and_never_the_token() {
    use tracing_subscriber::fmt::format::FmtSpan;
    let (buffer, _guard) = capture_logs(tracing::Level::DEBUG, FmtSpan::CLOSE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (auth, _) = default_auth();
    let good = token(&RSA).sign();
    let forged = token(&RSA).tamper_signature().sign();
    runtime.block_on(async {
        assert!(auth.verify_token(&good).await.is_ok());
        assert!(auth.verify_token(&forged).await.is_err());
    });
    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).expect("utf-8");
    let closes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("portcullis.verify") && l.contains("close"))
        .collect();
    assert_eq!(closes.len(), 2, "{log}");
    assert!(closes[0].contains("outcome=\"accepted\""), "{log}");
    assert!(closes[0].contains("kid=\"rsa-1\""), "{log}");
    assert!(closes[0].contains("sub=\"user-123\""), "{log}");
    assert!(
        closes[0].contains("issuer=\"https://issuer.test\""),
        "{log}"
    );
    assert!(closes[1].contains("outcome=\"rejected\""), "{log}");
    assert!(closes[1].contains("reason=\"bad_signature\""), "{log}");
    // No token, nor any part of one, is ever written.
    for t in [&good, &forged] {
        for part in t.split('.') {
            assert!(!log.contains(part), "a token segment was logged:\n{log}");
        }
    }
}

#[test]
fn a_dpop_refusal_logs_what_was_wrong_and_never_the_proof() {
    use portcullis_core::testkit::TestKey;
    let (buffer, _guard, runtime) = capture();
    let client = TestKey::ec_p256("client");
    let (token, proof) = runtime.block_on(async {
        let (auth, clock) = authenticator(
            config().dpop(portcullis_core::dpop::DpopMode::Allowed),
            &[&RSA],
        );
        let token = token(&RSA).bound_to(&client).sign();
        // A proof for another method.
        let proof = client
            .dpop_proof("POST", "https://api.test/api/me")
            .now(clock.now())
            .access_token(&token)
            .sign();
        let authorization = format!("DPoP {token}");
        let error = auth
            .authenticate_request(dpop_get_me(&authorization, &proof))
            .await
            .unwrap_err();
        assert_eq!(
            auth.error_response(&error).body,
            r#"{"detail":"Invalid DPoP proof"}"#
        );
        (token, proof)
    });
    let logs = buffer.text();
    assert!(
        logs.contains("reason=\"invalid_dpop_proof\"") && logs.contains("dpop_problem=\"method\""),
        "{logs}"
    );
    for t in [&token, &proof] {
        for segment in t.split('.') {
            assert!(
                !logs.contains(segment),
                "a token or proof segment reached the log"
            );
        }
    }
}

/// At `info` the verification span is not built (a service logging at `info` would pay for it
/// on every request and print nothing of it for an accepted token), and a refusal is still
/// an `info` event with its reason and key id.
#[test]
fn at_info_a_refusal_is_logged_and_no_span_is_built() {
    use tracing_subscriber::fmt::format::FmtSpan;
    let (buffer, _guard) = capture_logs(tracing::Level::INFO, FmtSpan::FULL);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (auth, _) = default_auth();
        let good = token(&RSA).sign();
        assert!(auth.verify_token(&good).await.is_ok());
        assert!(auth.verify_token(&good).await.is_ok());
        let bad = token(&RSA).tamper_signature().sign();
        assert!(auth.verify_token(&bad).await.is_err());
    });
    let logs = buffer.text();
    assert!(!logs.contains("portcullis.verify"), "{logs}");
    assert!(
        logs.contains("token rejected")
            && logs.contains("reason=\"bad_signature\"")
            && logs.contains("kid=\"rsa-1\""),
        "{logs}"
    );
    // Besides the start-up line, only the refusal: the accepted tokens print nothing.
    let decisions = logs
        .lines()
        .filter(|l| !l.contains("authentication enabled"))
        .count();
    assert_eq!(decisions, 1, "{logs}");
}
