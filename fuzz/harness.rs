//! The bodies of the fuzz targets, shared by `cargo fuzz` (fuzz/fuzz_targets) and the stable
//! smoke test (auth-core/tests/fuzz_smoke.rs), which runs them over the checked-in corpus
//! and mutations of it in every `cargo test`.
//!
//! Each body must not panic on any input; the two token bodies also assert that nothing
//! they are given ever verifies (no input can carry a valid signature of the harness key).

#![allow(dead_code, unreachable_pub)]

use portcullis_core::testkit::TestKey;
use portcullis_core::{AuthConfig, Authenticator, AuthorizationHeader, StaticKeys};
use std::future::Future;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

/// Polls a future that never waits on I/O (static keys) to completion.
fn complete<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

static AUTH: LazyLock<Authenticator> = LazyLock::new(|| {
    // A fresh key per process: no input can have been signed with it.
    let keys = [
        TestKey::rsa("rsa"),
        TestKey::ec_p256("ec"),
        TestKey::ed25519("ed"),
    ];
    let jwks = TestKey::jwks(&[&keys[0], &keys[1], &keys[2]]);
    let config = AuthConfig::builder()
        .issuer("https://issuer.fuzz")
        .audience("fuzz")
        .accepted_algorithms(["RS256", "ES256", "EdDSA"])
        .build()
        .expect("config");
    Authenticator::builder(config)
        .key_source(StaticKeys::from_jwks(&jwks).expect("jwks"))
        .build()
        .expect("authenticator")
});

/// The `Authorization` header: any bytes are refused, never a panic.
pub fn bearer_header(data: &[u8]) {
    let outcome = complete(AUTH.authenticate(AuthorizationHeader::One(data)));
    assert!(outcome.is_err(), "an arbitrary header verified");
    if let Err(e) = outcome {
        // The public answer is one of the fixed texts, never an echo of the input.
        let answer = e.to_response();
        assert!(answer.status == 400 || answer.status == 401, "{answer:?}");
    }
}

/// A compact token (`verify_token`): any string is refused, never a panic.
pub fn compact_token(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    assert!(
        complete(AUTH.verify_token(&text)).is_err(),
        "an arbitrary token verified"
    );
}

/// A JWKS document: parsed or refused, never a panic.
pub fn jwks(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(set) = portcullis_core::KeySet::from_jwks(&text) {
        let _ = set.len();
    }
}

/// An OIDC discovery document: its `jwks_uri` or an error, never a panic.
pub fn discovery(data: &[u8]) {
    let _ = portcullis_core::remote::jwks_uri_from_discovery(
        data,
        "https://issuer.fuzz",
        "https://issuer.fuzz/.well-known/openid-configuration",
    );
}

/// A YAML configuration document: a configuration or its problems, never a panic.
pub fn yaml_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = AuthConfig::builder().yaml_str(&text).build();
}

/// `AUTH_CLIENT__*` variables: lines of `KEY=value`, never a panic.
pub fn env_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let vars = text.lines().filter_map(|line| {
        let (k, v) = line.split_once('=')?;
        Some((format!("AUTH_CLIENT__{k}"), v.to_owned()))
    });
    let _ = AuthConfig::builder().env_vars(vars).build();
}

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("bearer_header", bearer_header),
    ("compact_token", compact_token),
    ("jwks", jwks),
    ("discovery", discovery),
    ("yaml_config", yaml_config),
    ("env_config", env_config),
];
