//! Test helpers for portcullis users' own tests (feature `testkit`).
//!
//! - [`TestKey`]: generate RSA, EC (P-256, P-384), Ed25519 or HMAC keys with a `kid`, and
//!   export them as JWK / JWKS / PEM.
//! - [`TokenBuilder`]: mint tokens with any claims and headers, including hostile ones
//!   (`alg: none`, a lying `alg`, wrong `kid`, `jku`, embedded `jwk`, `crit`, tampered
//!   payload or signature, an HMAC "signed" with a public key).
//! - DPoP (RFC 9449): [`TokenBuilder::dpop_proof`] mints proofs (hostile ones too),
//!   [`TokenBuilder::bound_to`] binds a token to a key, [`TestKey::thumbprint`] gives `jkt`.
//! - [`ManualClock`]: a clock your test moves, so expiry cases never sleep.
//! - [`TestIssuer`]: a real HTTP issuer on `127.0.0.1:0` (discovery, JWKS, revocation list)
//!   whose keys, answers and failures a test changes at run time, with request counters.
//!
//! ```
//! use portcullis_core::testkit::{ManualClock, TestKey, TokenBuilder};
//! use portcullis_core::{AuthConfig, AuthError, Authenticator, StaticKeys};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let key = TestKey::ec_p256("k1");
//! let clock = ManualClock::new(1_700_000_000);
//! let config = AuthConfig::builder()
//!     .issuer("https://issuer.test")
//!     .audience("api")
//!     .accepted_algorithms(["ES256"])
//!     .leeway_seconds(0)
//!     .build()
//!     .unwrap();
//! let auth = Authenticator::builder(config)
//!     .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[&key])).unwrap())
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//!
//! let token = TokenBuilder::new(&key)
//!     .now(clock.now())
//!     .issuer("https://issuer.test")
//!     .audience("api")
//!     .lifetime(60)
//!     .sign();
//! assert!(auth.verify_token(&token).await.is_ok());
//! clock.advance(61);
//! assert_eq!(auth.verify_token(&token).await.unwrap_err(), AuthError::Expired);
//! # }
//! ```

mod issuer;
mod key;
mod token;

pub use issuer::{Behavior, TestIssuer, DISCOVERY_PATH, JWKS_PATH, REVOCATION_PATH, TOKEN_PATH};
pub use key::TestKey;
pub use token::TokenBuilder;

use crate::clock::Clock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A clock that only moves when told. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock at `unix_seconds`.
    pub fn new(unix_seconds: i64) -> Self {
        Self(Arc::new(AtomicI64::new(unix_seconds)))
    }

    /// The current time.
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Sets the time.
    pub fn set(&self, unix_seconds: i64) {
        self.0.store(unix_seconds, Ordering::SeqCst);
    }

    /// Moves the time forward (or back, with a negative value).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        self.now()
    }
}
