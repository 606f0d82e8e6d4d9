//! portcullis-core without HTTP: a job consumer verifies the token each message carries and
//! runs the job's service code with the caller in the `SecurityContext`.
//!
//! `cargo run -p portcullis-examples --bin queue-consumer`

use portcullis_core::testkit::{TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, AuthError, Authenticator, SecurityContext, StaticKeys};
use serde_json::json;
use tokio::sync::mpsc;

/// A message on the queue: a job and the bearer token of whoever enqueued it.
struct Job {
    token: String,
    invoice_id: u32,
}

/// Service code: knows nothing about queues or tokens, only the SecurityContext.
fn approve_invoice(invoice_id: u32) -> Result<String, AuthError> {
    SecurityContext::require_role(["finance"])?;
    let who = SecurityContext::require()?;
    Ok(format!(
        "invoice {invoice_id} approved by {}",
        who.sub().unwrap_or("?")
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // The issuer's published keys, kept locally (a file, a config map...). Here the test kit
    // plays the issuer so that the example runs on its own.
    let issuer_key = TestKey::ec_p256("queue-key");
    let jwks = TestKey::jwks(&[&issuer_key]);
    let config = AuthConfig::builder()
        .issuer("https://auth.example.com")
        .audience("billing-worker")
        .accepted_algorithms(["ES256"])
        .build()
        .expect("valid configuration");
    let auth = Authenticator::builder(config)
        .key_source(StaticKeys::from_jwks(&jwks).expect("valid JWKS"))
        .build()
        .expect("authenticator");

    let (tx, mut rx) = mpsc::channel::<Job>(8);
    let mint = |sub: &str, roles: &[&str]| {
        TokenBuilder::new(&issuer_key)
            .issuer("https://auth.example.com")
            .audience("billing-worker")
            .subject(sub)
            .roles(roles)
            .sign()
    };
    let jobs = [
        Job {
            token: mint("alice", &["finance"]),
            invoice_id: 1,
        },
        Job {
            token: mint("bob", &["sales"]),
            invoice_id: 2,
        },
        Job {
            token: "forged.token.value".into(),
            invoice_id: 3,
        },
        Job {
            token: TokenBuilder::new(&issuer_key)
                .issuer("https://auth.example.com")
                .audience("billing-worker")
                .claim("extra", json!(1))
                .tamper_payload()
                .sign(),
            invoice_id: 4,
        },
    ];
    for job in jobs {
        tx.send(job).await.expect("queue open");
    }
    drop(tx);

    while let Some(job) = rx.recv().await {
        let outcome = match auth.verify_token(&job.token).await {
            Ok(caller) => {
                SecurityContext::scope(caller, async { approve_invoice(job.invoice_id) }).await
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(done) => println!("job {}: {done}", job.invoice_id),
            Err(e) => println!(
                "job {}: refused ({}: {})",
                job.invoice_id,
                e.reason(),
                e.detail()
            ),
        }
    }
}
