//! Criterion benchmarks of the verification pipeline. Each algorithm's group holds the raw
//! aws-lc-rs signature check of the same token (the floor), portcullis's whole pipeline,
//! jsonwebtoken 11's `decode` and a verified-token cache hit, so one report compares them.
//! Further groups: each refusal path, the cache, and tokens with 1 / 100 / 1000 roles.
//!
//! `cargo bench -p portcullis-core --bench criterion` (add `-- verify/` to run only a group).

mod common;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{
    AuthConfig, AuthConfigBuilder, Authenticator, AuthorizationHeader, KeyLookup, KeySet,
    StaticKeys,
};
use std::hint::black_box;

const ISSUER: &str = "https://issuer.bench";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    keys: Vec<TestKey>,
    jwks: String,
}

impl Fixture {
    fn new() -> Self {
        let keys = vec![
            TestKey::rsa("rsa"),
            TestKey::ec_p256("ec"),
            TestKey::ed25519("ed"),
        ];
        let refs: Vec<&TestKey> = keys.iter().collect();
        let jwks = TestKey::jwks(&refs);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        Self {
            runtime,
            keys,
            jwks,
        }
    }

    fn config() -> AuthConfigBuilder {
        AuthConfig::builder()
            .issuer(ISSUER)
            .audience("api")
            .accepted_algorithms(["RS256", "ES256", "EdDSA"])
            // A thousand roles make a 20 KB token.
            .max_token_bytes(65_536)
    }

    fn authenticator(&self, cache_entries: u64) -> Authenticator {
        Authenticator::builder(
            Self::config()
                .cache_max_entries(cache_entries)
                .build()
                .expect("config"),
        )
        .key_source(StaticKeys::from_jwks(&self.jwks).expect("jwks"))
        .build()
        .expect("authenticator")
    }

    fn token<'k>(&self, key: &'k TestKey) -> TokenBuilder<'k> {
        let _ = self;
        TokenBuilder::new(key)
            .issuer(ISSUER)
            .audience("api")
            .subject("user-1")
            .claim("roles", serde_json::json!(["admin", "editor"]))
            .claim("email", serde_json::json!("user@example.com"))
            .lifetime(3600)
    }
}

/// Per algorithm: the floor, portcullis, jsonwebtoken and a cache hit, in one group.
fn verify(c: &mut Criterion) {
    let fx = Fixture::new();
    let uncached = fx.authenticator(0);
    let cached = fx.authenticator(1_000);
    let set = KeySet::from_jwks(&fx.jwks).expect("jwks");
    for key in &fx.keys {
        let alg = key.algorithm();
        let token = fx.token(key).sign();
        let (input, sig) = token.rsplit_once('.').expect("jws");
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .expect("b64");
        let KeyLookup::Found(verifying) = set.find(Some(key.kid()), alg) else {
            panic!("key")
        };
        let mut group = c.benchmark_group(format!("verify/{}", alg.as_str()));
        group.bench_function("floor: aws-lc-rs signature check", |b| {
            b.iter(|| {
                assert!(verifying.verify(alg, black_box(input.as_bytes()), black_box(&sig)));
            });
        });
        group.bench_function("portcullis verify_token", |b| {
            b.iter(|| {
                fx.runtime.block_on(async {
                    black_box(
                        uncached
                            .verify_token(black_box(&token))
                            .await
                            .expect("valid"),
                    )
                })
            });
        });
        if let Some((decoding, validation)) = common::jsonwebtoken_setup(key, ISSUER) {
            group.bench_function("jsonwebtoken 11 decode", |b| {
                b.iter(|| {
                    black_box(
                        jsonwebtoken::decode::<serde_json::Value>(
                            black_box(&token),
                            &decoding,
                            &validation,
                        )
                        .expect("valid"),
                    )
                });
            });
        }
        group.bench_function("portcullis cache hit", |b| {
            b.iter(|| {
                fx.runtime.block_on(async {
                    black_box(cached.verify_token(black_box(&token)).await.expect("valid"))
                })
            });
        });
        group.finish();
    }
}

/// Each way a token is refused (RS256, no cache): refusals must stay cheap too.
fn refusals(c: &mut Criterion) {
    let fx = Fixture::new();
    let auth = fx.authenticator(0);
    let rsa = &fx.keys[0];
    let stranger = TestKey::rsa("stranger");
    let cases = [
        ("bad signature", fx.token(rsa).tamper_signature().sign()),
        ("expired", fx.token(rsa).now(1_000_000).sign()),
        ("unknown kid", fx.token(&stranger).sign()),
        ("malformed", "not-a-token".to_owned()),
    ];
    let mut group = c.benchmark_group("refuse");
    for (name, token) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                fx.runtime.block_on(async {
                    black_box(
                        auth.verify_token(black_box(token))
                            .await
                            .expect_err("refused"),
                    )
                })
            });
        });
    }
    group.bench_function("no token", |b| {
        b.iter(|| {
            fx.runtime.block_on(async {
                black_box(
                    auth.authenticate(black_box(AuthorizationHeader::Absent))
                        .await
                        .expect_err("refused"),
                )
            })
        });
    });
    group.finish();
}

/// The verified-token cache: a hit, and a miss that verifies and inserts (EdDSA).
fn cache(c: &mut Criterion) {
    let fx = Fixture::new();
    let ed = &fx.keys[2];
    let cached = fx.authenticator(1_000);
    let token = fx.token(ed).sign();
    // Distinct tokens, more than the cache holds, so each visit is a miss.
    let small = fx.authenticator(64);
    let many: Vec<String> = (0..1_024)
        .map(|i| fx.token(ed).claim("jti", serde_json::json!(i)).sign())
        .collect();
    let mut group = c.benchmark_group("cache");
    group.bench_function("hit", |b| {
        b.iter(|| {
            fx.runtime.block_on(async {
                black_box(cached.verify_token(black_box(&token)).await.expect("valid"))
            })
        });
    });
    let mut next = 0usize;
    group.bench_function("miss (verify and insert)", |b| {
        b.iter(|| {
            next = (next + 1) % many.len();
            fx.runtime.block_on(async {
                black_box(
                    small
                        .verify_token(black_box(&many[next]))
                        .await
                        .expect("valid"),
                )
            })
        });
    });
    group.finish();
}

/// Tokens with 1, 100 and 1000 roles (EdDSA, no cache), each beside the floor of its own
/// signature check (which grows with the token's bytes): portcullis's overhead should not
/// grow faster. "+ role check" also resolves the roles (a route that requires one).
fn roles(c: &mut Criterion) {
    let fx = Fixture::new();
    let auth = fx.authenticator(0);
    let ed = &fx.keys[2];
    let set = KeySet::from_jwks(&fx.jwks).expect("jwks");
    let KeyLookup::Found(verifying) = set.find(Some(ed.kid()), ed.algorithm()) else {
        panic!("key")
    };
    let mut group = c.benchmark_group("roles");
    for n in [1usize, 100, 1000] {
        let roles: Vec<String> = (0..n).map(|i| format!("role-{i}")).collect();
        let token = fx.token(ed).claim("roles", serde_json::json!(roles)).sign();
        let (input, sig) = token.rsplit_once('.').expect("jws");
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .expect("b64");
        group.bench_with_input(BenchmarkId::new("floor", n), &token, |b, _| {
            b.iter(|| {
                assert!(verifying.verify(
                    ed.algorithm(),
                    black_box(input.as_bytes()),
                    black_box(&sig)
                ));
            });
        });
        group.bench_with_input(BenchmarkId::new("portcullis", n), &token, |b, token| {
            b.iter(|| {
                fx.runtime.block_on(async {
                    black_box(auth.verify_token(black_box(token)).await.expect("valid"))
                })
            });
        });
        group.bench_with_input(
            BenchmarkId::new("portcullis + role check", n),
            &token,
            |b, token| {
                b.iter(|| {
                    fx.runtime.block_on(async {
                        let claims = auth.verify_token(black_box(token)).await.expect("valid");
                        assert!(claims.has_role("role-0"));
                    })
                });
            },
        );
        if let Some((decoding, validation)) = common::jsonwebtoken_setup(ed, ISSUER) {
            group.bench_with_input(
                BenchmarkId::new("jsonwebtoken 11", n),
                &token,
                |b, token| {
                    b.iter(|| {
                        black_box(
                            jsonwebtoken::decode::<serde_json::Value>(
                                black_box(token),
                                &decoding,
                                &validation,
                            )
                            .expect("valid"),
                        )
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, verify, refusals, cache, roles);
criterion_main!(benches);
