//! Where keys come from: the [`KeySource`] trait and the static sources.

use super::{KeyError, KeySet, VerifyingKey};
use crate::algorithm::Algorithm;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// No verification keys can be had right now (issuer unreachable, none fetched yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no verification keys available")]
pub struct KeysUnavailable {
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: u64,
}

/// The future returned by [`KeySource::refresh`].
pub type RefreshFuture<'a> = Pin<Box<dyn Future<Output = Option<Arc<KeySet>>> + Send + 'a>>;

/// Supplies the keys tokens are verified with.
///
/// [`current`](Self::current) is called for every token and must be cheap and never wait on
/// I/O or on a lock held across I/O: return a snapshot. Sources that can fetch keys
/// implement [`refresh`](Self::refresh), rate-limited on their side, so that a forged `kid`
/// can never turn into one request to the issuer.
///
/// ```
/// use std::sync::Arc;
/// use portcullis_core::{KeySet, KeySource, KeysUnavailable};
///
/// /// Keys the service already holds (for example, tokens it issued itself).
/// struct OwnKeys(Arc<KeySet>);
///
/// impl KeySource for OwnKeys {
///     fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
///         Ok(Arc::clone(&self.0))
///     }
/// }
/// ```
pub trait KeySource: Send + Sync + 'static {
    /// The keys to use now.
    fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable>;

    /// The current keys cannot verify a token (no key has its `kid`, or [`current`]
    /// failed): a fetching source may refresh (at most once per cooldown, one fetch shared by
    /// concurrent callers) and return the new set. `None` means "nothing new"; the default
    /// never fetches.
    ///
    /// [`current`]: Self::current
    fn refresh<'a>(&'a self, kid: Option<&'a str>) -> RefreshFuture<'a> {
        let _ = kid;
        Box::pin(std::future::ready(None))
    }

    /// The state of the keys, for readiness checks. The default: loaded and fresh when
    /// [`current`](Self::current) has keys (a fixed source never goes stale).
    fn status(&self) -> KeyStatus {
        let loaded = self.current().is_ok_and(|keys| !keys.is_empty());
        KeyStatus {
            loaded,
            fresh: loaded,
            age_seconds: None,
            last_error: None,
        }
    }
}

/// The state of a key source ([`KeySource::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStatus {
    /// Usable keys are available (verification can proceed).
    pub loaded: bool,
    /// They are within their time to live and the last refresh succeeded.
    pub fresh: bool,
    /// Seconds since the keys were fetched (fetching sources only).
    pub age_seconds: Option<u64>,
    /// Why the last fetch failed, if it did (no secrets: URLs are shown without their query).
    pub last_error: Option<String>,
}

impl KeyStatus {
    /// A status (for custom [`KeySource`]s).
    pub fn new(
        loaded: bool,
        fresh: bool,
        age_seconds: Option<u64>,
        last_error: Option<String>,
    ) -> Self {
        Self {
            loaded,
            fresh,
            age_seconds,
            last_error,
        }
    }
}

/// A fixed key set: a JWKS document, PEM keys, or the shared secret.
#[derive(Debug, Clone)]
pub struct StaticKeys {
    keys: Arc<KeySet>,
}

impl StaticKeys {
    /// Wraps a key set.
    pub fn new(keys: KeySet) -> Self {
        Self {
            keys: Arc::new(keys),
        }
    }

    /// From a JWKS document (unusable keys are skipped and logged).
    pub fn from_jwks(json: &str) -> Result<Self, super::JwksError> {
        KeySet::from_jwks(json).map(Self::new)
    }

    /// From a JWKS file.
    pub fn from_jwks_file(path: impl AsRef<std::path::Path>) -> Result<Self, super::JwksError> {
        KeySet::from_jwks_file(path).map(Self::new)
    }

    /// One PEM public key, optionally with a `kid` and bound to an algorithm.
    pub fn from_pem(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        pem: &str,
    ) -> Result<Self, KeyError> {
        VerifyingKey::from_pem(kid.map(str::to_owned), alg, pem)
            .map(|k| Self::new(KeySet::new().with(k)))
    }

    /// The HMAC shared secret (for `HS*` configurations).
    pub fn shared_secret(secret: &[u8]) -> Result<Self, KeyError> {
        VerifyingKey::shared_secret(None, secret).map(|k| Self::new(KeySet::new().with(k)))
    }

    /// The keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }
}

impl KeySource for StaticKeys {
    fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        Ok(Arc::clone(&self.keys))
    }
}
