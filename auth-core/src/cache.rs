//! The verified-token cache (Envoy's `jwt_cache_config`, done carefully): a token seen again
//! skips the signature check and the claims parse, never a check that can change.
//!
//! - Keyed by the whole token: no truncated hash that could collide.
//! - Only tokens that verified are admitted: a flood of forged tokens cannot fill or evict it.
//! - An entry never outlives the token: at `exp` (plus leeway) it is a miss, and the full
//!   check answers `Token has expired`.
//! - An entry names the key that verified it: when that key is no longer the one the key
//!   set holds under its `kid` (removed, rotated, or the set refreshed), it is a miss.
//! - Revocation, the application's claims rule and every route requirement are checked on
//!   each hit, exactly as on a miss.
//! - Bounded by entries and by bytes (`cache_max_entries`, `cache_max_bytes`), concurrent
//!   and lock-light (`quick_cache`, sharded, S3-FIFO eviction).

use crate::claims::TokenClaims;
use crate::keys::VerifyingKey;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::Arc;

/// One verified token.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) claims: TokenClaims,
    /// `exp`, rounded down.
    pub(crate) exp: i64,
    /// `nbf` and `iat`, rounded up: a clock that steps back (an NTP correction, a restored
    /// snapshot) can make them fail again.
    pub(crate) not_before: Option<i64>,
    pub(crate) issued_at: Option<i64>,
    /// The key that verified the signature.
    pub(crate) key: Arc<VerifyingKey>,
    /// Which trusted issuer's keys (0: the configuration's own).
    pub(crate) issuer: usize,
    /// What the entry holds in memory, estimated once at insertion.
    pub(crate) bytes: u64,
}

/// Weight of an entry: its bytes, but never less than the share that keeps the entry count
/// within bounds.
#[derive(Clone)]
struct Bytes {
    floor: u64,
}

impl Weighter<Box<str>, Entry> for Bytes {
    fn weight(&self, token: &Box<str>, entry: &Entry) -> u64 {
        let key = u64::try_from(token.len()).unwrap_or(u64::MAX);
        key.saturating_add(entry.bytes).max(self.floor)
    }
}

/// The cache of one [`Authenticator`](crate::Authenticator).
pub(crate) struct VerifiedCache {
    cache: Cache<Box<str>, Entry, Bytes>,
}

impl VerifiedCache {
    /// A cache of at most `entries` entries and `bytes` bytes; `None` when `entries` is 0.
    pub(crate) fn new(entries: usize, bytes: u64) -> Option<Self> {
        if entries == 0 {
            return None;
        }
        let floor = (bytes / u64::try_from(entries).unwrap_or(u64::MAX)).max(1);
        Some(Self {
            cache: Cache::with_weighter(entries, bytes, Bytes { floor }),
        })
    }

    pub(crate) fn get(&self, token: &str) -> Option<Entry> {
        self.cache.get(token)
    }

    pub(crate) fn insert(&self, token: &str, entry: Entry) {
        self.cache.insert(token.into(), entry);
    }

    pub(crate) fn remove(&self, token: &str) {
        self.cache.remove(token);
    }

    pub(crate) fn len(&self) -> usize {
        self.cache.len()
    }
}
