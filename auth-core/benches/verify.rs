//! Verification cost: portcullis's whole pipeline against a bare signature check of the same
//! token (the floor) and against jsonwebtoken 11 (aws-lc backend), measured in interleaved
//! rounds so that host noise hits all of them alike. Medians; compare within one run.
//!
//! `cargo bench -p portcullis-core --bench verify`

mod common;

use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, Authenticator, KeyLookup, KeySet, StaticKeys};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BATCH: u32 = 50;
const BATCHES: usize = 101;

/// Median time per operation of each of `ops`, in microseconds, measured in interleaved
/// rounds (one batch of each per round), so that host noise hits all of them alike.
fn interleaved_us(ops: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    for op in ops.iter_mut() {
        for _ in 0..BATCH {
            op(); // warm-up
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(BATCHES); ops.len()];
    for _ in 0..BATCHES {
        for (op, samples) in ops.iter_mut().zip(samples.iter_mut()) {
            let start = Instant::now();
            for _ in 0..BATCH {
                op();
            }
            samples.push(start.elapsed() / BATCH);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort();
            s[BATCHES / 2].as_secs_f64() * 1e6
        })
        .collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let keys = [
        TestKey::rsa("rsa"),
        TestKey::ec_p256("ec"),
        TestKey::ed25519("ed"),
    ];
    let refs: Vec<&TestKey> = keys.iter().collect();
    let jwks = TestKey::jwks(&refs);
    let config = AuthConfig::builder()
        .issuer("https://issuer.bench")
        .audience("api")
        .accepted_algorithms(["RS256", "ES256", "EdDSA"])
        // A thousand roles make a 20 KB token.
        .max_token_bytes(65_536);
    // The full pipeline every time (no cache), and the same with the verified-token cache.
    let auth = Authenticator::builder(config.clone().cache_max_entries(0).build().expect("config"))
        .key_source(StaticKeys::from_jwks(&jwks).expect("jwks"))
        .build()
        .expect("authenticator");
    let cached = Authenticator::builder(config.build().expect("config"))
        .key_source(StaticKeys::from_jwks(&jwks).expect("jwks"))
        .build()
        .expect("authenticator");
    let set = KeySet::from_jwks(&jwks).expect("jwks");

    println!(
        "{:<8} {:>12} {:>14} {:>10} {:>12} {:>16} {:>13}",
        "alg", "floor µs", "portcullis µs", "overhead", "ratio", "jsonwebtoken µs", "cache hit µs"
    );
    for key in &keys {
        let token = TokenBuilder::new(key)
            .issuer("https://issuer.bench")
            .audience("api")
            .subject("user-1")
            .claim("roles", serde_json::json!(["admin", "editor"]))
            .claim("email", serde_json::json!("user@example.com"))
            .lifetime(3600)
            .sign();
        let alg = key.algorithm();
        let (input, sig) = split(&token);
        let KeyLookup::Found(verifying) = set.find(Some(key.kid()), alg) else {
            panic!("key")
        };
        let mut raw =
            || assert!(verifying.verify(alg, black_box(input.as_bytes()), black_box(&sig)));
        let mut ours = || {
            runtime.block_on(async {
                black_box(auth.verify_token(black_box(&token)).await.expect("valid"))
            });
        };
        let mut hit = || {
            runtime.block_on(async {
                black_box(cached.verify_token(black_box(&token)).await.expect("valid"))
            });
        };
        let jwt = common::jsonwebtoken_setup(key, "https://issuer.bench");
        let mut jwt_op = || {
            if let Some((decoding, validation)) = &jwt {
                black_box(
                    jsonwebtoken::decode::<serde_json::Value>(
                        black_box(&token),
                        decoding,
                        validation,
                    )
                    .expect("valid"),
                );
            }
        };
        let m = interleaved_us(&mut [&mut raw, &mut ours, &mut jwt_op, &mut hit]);
        println!(
            "{:<8} {:>12.1} {:>14.1} {:>8.1}µs {:>11.2}x {:>16} {:>13.2}",
            alg.as_str(),
            m[0],
            m[1],
            m[1] - m[0],
            m[1] / m[0],
            if jwt.is_some() {
                format!("{:.1}", m[2])
            } else {
                "-".to_owned()
            },
            m[3]
        );
    }
    roles_rows(&runtime, &auth, &set, &keys[2]);
}

/// The signing input and the decoded signature of a compact JWS.
fn split(token: &str) -> (&str, Vec<u8>) {
    use base64::Engine;
    let (input, sig) = token.rsplit_once('.').expect("jws");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .expect("b64");
    (input, sig)
}

/// Verification cost over the number of roles a token carries (EdDSA), beside the signature
/// check of the same token: the overhead must not grow faster than the token's bytes.
fn roles_rows(
    runtime: &tokio::runtime::Runtime,
    auth: &Authenticator,
    set: &KeySet,
    key: &TestKey,
) {
    println!(
        "\n{:<8} {:>10} {:>12} {:>14} {:>10}",
        "roles", "token B", "floor µs", "portcullis µs", "overhead"
    );
    let KeyLookup::Found(verifying) = set.find(Some(key.kid()), key.algorithm()) else {
        panic!("key")
    };
    for n in [1usize, 100, 1000] {
        let roles: Vec<String> = (0..n).map(|i| format!("role-{i}")).collect();
        let token = TokenBuilder::new(key)
            .issuer("https://issuer.bench")
            .audience("api")
            .subject("user-1")
            .claim("roles", serde_json::json!(roles))
            .lifetime(3600)
            .sign();
        let (input, sig) = split(&token);
        let alg = key.algorithm();
        let mut raw =
            || assert!(verifying.verify(alg, black_box(input.as_bytes()), black_box(&sig)));
        let mut ours = || {
            runtime.block_on(async {
                black_box(auth.verify_token(black_box(&token)).await.expect("valid"))
            });
        };
        let m = interleaved_us(&mut [&mut raw, &mut ours]);
        println!(
            "{n:<8} {:>10} {:>12.1} {:>14.1} {:>8.1}µs",
            token.len(),
            m[0],
            m[1],
            m[1] - m[0]
        );
    }
}
