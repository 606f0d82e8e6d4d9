//! The verified-token cache's memory bound: one million distinct valid tokens leave it at its
//! configured size, and a flood of one million invalid ones leaves the resident set flat.
//! HS256 keeps minting and verifying a million tokens to seconds; the cache does not care
//! which algorithm verified an entry.
//!
//! `cargo bench -p portcullis-core --bench memory [-- <tokens>]` (Linux: reads
//! `/proc/self/status`). It fails (exit 1) if a bound is broken.

use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{Algorithm, AuthConfig, Authenticator};

const ISSUER: &str = "https://issuer.memory";
const MAX_ENTRIES: u64 = 10_000;
const MAX_BYTES: u64 = 16 << 20;

/// The resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let tokens: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let secret_text = "a-shared-secret-of-at-least-32-bytes!!";
    let secret = secret_text.as_bytes();
    let key = TestKey::hmac("hs", Algorithm::HS256, secret);
    let config = AuthConfig::builder()
        .issuer(ISSUER)
        .audience("api")
        .accepted_algorithms(["HS256"])
        .shared_secret(secret_text)
        .cache_max_entries(MAX_ENTRIES)
        .cache_max_bytes(MAX_BYTES)
        .build()
        .expect("config");
    let auth = Authenticator::builder(config)
        .build()
        .expect("authenticator");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mint = |i: u32| {
        TokenBuilder::new(&key)
            .issuer(ISSUER)
            .audience("api")
            .subject(&format!("user-{i}"))
            .claim("roles", serde_json::json!(["reader", "writer"]))
            .lifetime(3600)
    };
    let mut failed = false;
    let start = rss_kib();
    println!(
        "cache bound: {MAX_ENTRIES} entries, {} MiB",
        MAX_BYTES >> 20
    );
    println!("{:<34} {:>10} {:>12}", "after", "entries", "RSS MiB");
    println!(
        "{:<34} {:>10} {:>12.1}",
        "start",
        auth.cached_tokens(),
        start as f64 / 1024.0
    );

    // Distinct valid tokens: the cache fills to its bound and stays there.
    let mut checkpoint_rss = 0;
    for i in 0..tokens {
        let token = mint(i).sign();
        runtime
            .block_on(auth.verify_token(&token))
            .expect("a valid token");
        if (i + 1) % (tokens / 4).max(1) == 0 {
            let rss = rss_kib();
            println!(
                "{:<34} {:>10} {:>12.1}",
                format!("{} valid tokens", i + 1),
                auth.cached_tokens(),
                rss as f64 / 1024.0
            );
            if u64::try_from(auth.cached_tokens()).unwrap_or(u64::MAX) > MAX_ENTRIES {
                println!("FAIL: the cache holds more than its bound");
                failed = true;
            }
            checkpoint_rss = rss;
        }
    }
    let after_valid = auth.cached_tokens();

    // A flood of invalid tokens (each a distinct forgery): nothing is admitted, RSS flat.
    let forged_base = mint(0).sign();
    let (input, _) = forged_base.rsplit_once('.').expect("jws");
    for i in 0..tokens {
        let forged = format!("{input}.{:043}", i);
        let _ = runtime.block_on(auth.verify_token(&forged));
    }
    let rss = rss_kib();
    println!(
        "{:<34} {:>10} {:>12.1}",
        format!("+ {tokens} forged tokens"),
        auth.cached_tokens(),
        rss as f64 / 1024.0
    );
    if auth.cached_tokens() != after_valid {
        println!("FAIL: a forged token changed the cache");
        failed = true;
    }
    // Flat: within 5 % (allocator noise) of where the valid tokens left it.
    if rss > checkpoint_rss + checkpoint_rss / 20 {
        println!("FAIL: invalid tokens grew the resident set");
        failed = true;
    }
    if failed {
        std::process::exit(1);
    }
    println!("ok: bounded at {} entries", auth.cached_tokens());
}
