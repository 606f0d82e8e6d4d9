//! Verification cost: portcullis's whole pipeline against a bare signature check and against
//! jsonwebtoken 11 (aws-lc backend). Medians of batched runs; compare ratios within one run.
//!
//! `cargo bench -p portcullis-core --bench verify`

use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{Algorithm, AuthConfig, Authenticator, KeyLookup, KeySet, StaticKeys};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BATCH: u32 = 200;
const BATCHES: usize = 31;

/// Median time per operation, in microseconds.
fn median_us(mut op: impl FnMut()) -> f64 {
    for _ in 0..BATCH {
        op(); // warm-up
    }
    let mut samples: Vec<Duration> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..BATCH {
                op();
            }
            start.elapsed() / BATCH
        })
        .collect();
    samples.sort();
    samples[BATCHES / 2].as_secs_f64() * 1e6
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
        "{:<8} {:>14} {:>16} {:>18} {:>10} {:>16}",
        "alg", "raw verify µs", "portcullis µs", "jsonwebtoken µs", "overhead", "cache hit µs"
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
        let (input, sig) = token.rsplit_once('.').expect("jws");
        let sig = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig)
                .expect("b64")
        };
        let alg = key.algorithm();
        let KeyLookup::Found(verifying) = set.find(Some(key.kid()), alg) else {
            panic!("key")
        };
        let raw = median_us(|| {
            assert!(verifying.verify(alg, black_box(input.as_bytes()), black_box(&sig)))
        });
        let ours = median_us(|| {
            runtime.block_on(async {
                black_box(auth.verify_token(black_box(&token)).await.expect("valid"))
            });
        });
        let jwt = jsonwebtoken_us(key, &token);
        let hit = median_us(|| {
            runtime.block_on(async {
                black_box(cached.verify_token(black_box(&token)).await.expect("valid"))
            });
        });
        println!(
            "{:<8} {:>14.1} {:>16.1} {:>18} {:>9.2}x {:>16.2}",
            alg.as_str(),
            raw,
            ours,
            jwt.map_or("-".to_owned(), |v| format!("{v:.1}")),
            ours / raw,
            hit
        );
    }
    roles_rows(&runtime, &auth, &keys[2]);
}

/// Verification cost over the number of roles a token carries (EdDSA): flat, not quadratic.
fn roles_rows(runtime: &tokio::runtime::Runtime, auth: &Authenticator, key: &TestKey) {
    println!("\n{:<8} {:>16}", "roles", "portcullis µs");
    for n in [1usize, 100, 1000] {
        let roles: Vec<String> = (0..n).map(|i| format!("role-{i}")).collect();
        let token = TokenBuilder::new(key)
            .issuer("https://issuer.bench")
            .audience("api")
            .subject("user-1")
            .claim("roles", serde_json::json!(roles))
            .lifetime(3600)
            .sign();
        let us = median_us(|| {
            runtime.block_on(async {
                black_box(auth.verify_token(black_box(&token)).await.expect("valid"))
            });
        });
        println!("{n:<8} {us:>16.1}");
    }
}

/// jsonwebtoken 11 `decode` with a `DecodingKey` made once (RS256 and ES256).
fn jsonwebtoken_us(key: &TestKey, token: &str) -> Option<f64> {
    let jwk = key.jwk();
    let (decoding, alg) = match key.algorithm() {
        Algorithm::RS256 => (
            jsonwebtoken::DecodingKey::from_rsa_components(jwk["n"].as_str()?, jwk["e"].as_str()?)
                .ok()?,
            jsonwebtoken::Algorithm::RS256,
        ),
        Algorithm::ES256 => (
            jsonwebtoken::DecodingKey::from_ec_components(jwk["x"].as_str()?, jwk["y"].as_str()?)
                .ok()?,
            jsonwebtoken::Algorithm::ES256,
        ),
        _ => return None,
    };
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&["api"]);
    validation.set_issuer(&["https://issuer.bench"]);
    Some(median_us(|| {
        black_box(
            jsonwebtoken::decode::<serde_json::Value>(black_box(token), &decoding, &validation)
                .expect("valid"),
        );
    }))
}
