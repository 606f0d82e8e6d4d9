//! The `jti` denylist of pico-client-auth: polled in the background, never per request.
//!
//! Decisions:
//! - A revoked `jti` is 401 `Token has been revoked`.
//! - While the list cannot be fetched (never fetched, or the last poll failed): with
//!   `revocation_fail_open: false` (the default) tokens are refused with 503 (the outage is
//!   not the caller's fault); `jti`s known to be revoked stay revoked either way.
//! - A token without `jti` cannot be revoked, so where revocation is configured `jti` is a
//!   required claim (401 `Token is missing required claim: jti`), fail-open or not:
//!   pico-client-auth let such tokens bypass a fail-closed list.

use super::fetch::{FetchError, HttpFetcher};
use crate::clock::{Clock, SystemClock};
use crate::config::{AuthConfig, Secret};
use crate::error::AuthError;
use arc_swap::ArcSwapOption;
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

/// A polled revocation list. Cheap to clone.
#[derive(Clone)]
pub struct RevocationList {
    inner: Arc<Inner>,
}

struct Inner {
    fetcher: HttpFetcher,
    url: String,
    bearer: Option<Secret>,
    ttl: i64,
    fail_open: bool,
    clock: Arc<dyn Clock>,
    revoked: ArcSwapOption<HashSet<String>>,
    healthy: AtomicBool,
    last_attempt: AtomicI64,
    polling: AtomicBool,
    fetch_lock: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct Body {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    jti: Option<String>,
}

const NEVER: i64 = i64::MIN;

impl RevocationList {
    /// The list the configuration describes, if `revocation_endpoint` is set.
    pub fn from_config(config: &AuthConfig, fetcher: HttpFetcher) -> Option<Self> {
        Self::with_clock(config, fetcher, Arc::new(SystemClock))
    }

    /// Same as [`from_config`](Self::from_config) with an injected clock.
    pub fn with_clock(
        config: &AuthConfig,
        fetcher: HttpFetcher,
        clock: Arc<dyn Clock>,
    ) -> Option<Self> {
        let url = config.revocation_endpoint()?.to_owned();
        let me = Self {
            inner: Arc::new(Inner {
                fetcher,
                url,
                bearer: config.revocation_bearer().cloned(),
                ttl: i64::try_from(config.revocation_ttl().as_secs()).unwrap_or(i64::MAX),
                fail_open: config.revocation_fail_open(),
                clock,
                revoked: ArcSwapOption::empty(),
                healthy: AtomicBool::new(false),
                last_attempt: AtomicI64::new(NEVER),
                polling: AtomicBool::new(false),
                fetch_lock: tokio::sync::Mutex::new(()),
            }),
        };
        me.spawn_poll();
        Some(me)
    }

    /// Checks a token's `jti`. Waits only for the very first poll; after that, polls run in
    /// the background every `revocation_ttl_seconds`.
    pub async fn check(&self, jti: &str) -> Result<(), AuthError> {
        let inner = &self.inner;
        if inner.last_attempt.load(Ordering::Acquire) == NEVER {
            let _guard = inner.fetch_lock.lock().await;
            if inner.last_attempt.load(Ordering::Acquire) == NEVER {
                // Boxed: the fetch's state (once per process) stays out of every check's future.
                let _ = Box::pin(inner.poll_locked()).await; // logged inside
            }
        } else if inner
            .clock
            .now_unix()
            .saturating_sub(inner.last_attempt.load(Ordering::Acquire))
            >= inner.ttl
        {
            self.spawn_poll();
        }
        if inner
            .revoked
            .load()
            .as_ref()
            .is_some_and(|set| set.contains(jti))
        {
            return Err(AuthError::Revoked);
        }
        if inner.healthy.load(Ordering::Acquire) || inner.fail_open {
            Ok(())
        } else {
            Err(AuthError::RevocationUnavailable {
                retry_after: u64::try_from(inner.ttl).unwrap_or(15),
            })
        }
    }

    /// Whether the list is current: polled, and the last poll succeeded. A probe also starts
    /// the next poll when one is due.
    pub fn is_current(&self) -> bool {
        let inner = &self.inner;
        let last = inner.last_attempt.load(Ordering::Acquire);
        if last == NEVER || inner.clock.now_unix().saturating_sub(last) >= inner.ttl {
            self.spawn_poll();
        }
        last != NEVER && inner.healthy.load(Ordering::Acquire)
    }

    /// Polls now (sharing a poll under way).
    pub async fn refresh_now(&self) -> Result<(), FetchError> {
        let _guard = self.inner.fetch_lock.lock().await;
        self.inner.poll_locked().await
    }

    fn spawn_poll(&self) {
        if self.inner.polling.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.polling.store(false, Ordering::Release);
            return;
        };
        let inner = Arc::clone(&self.inner);
        runtime.spawn(async move {
            {
                let _guard = inner.fetch_lock.lock().await;
                let last = inner.last_attempt.load(Ordering::Acquire);
                if last == NEVER || inner.clock.now_unix().saturating_sub(last) >= inner.ttl {
                    let _ = inner.poll_locked().await;
                }
            }
            inner.polling.store(false, Ordering::Release);
        });
    }
}

impl Inner {
    async fn poll_locked(&self) -> Result<(), FetchError> {
        let result = self.poll().await;
        self.last_attempt
            .store(self.clock.now_unix(), Ordering::Release);
        match &result {
            Ok(count) => {
                metrics::counter!("portcullis_revocation_polls_total", "outcome" => "ok")
                    .increment(1);
                self.healthy.store(true, Ordering::Release);
                tracing::debug!(revoked = count, "revocation list refreshed");
            }
            Err(e) => {
                metrics::counter!("portcullis_revocation_polls_total", "outcome" => "error")
                    .increment(1);
                self.healthy.store(false, Ordering::Release);
                tracing::warn!(error = %e, fail_open = self.fail_open, "revocation list fetch failed");
            }
        }
        result.map(|_| ())
    }

    async fn poll(&self) -> Result<usize, FetchError> {
        let fetched = self
            .fetcher
            .get(&self.url, None, self.bearer.as_ref())
            .await?;
        let body: Body =
            serde_json::from_slice(&fetched.body).map_err(|_| FetchError::Invalid {
                url: super::fetch::shown(&self.url),
                reason: "revocation list is not {\"items\": [{\"jti\": ...}]}".into(),
            })?;
        let set: HashSet<String> = body.items.into_iter().filter_map(|i| i.jti).collect();
        let count = set.len();
        self.revoked.store(Some(Arc::new(set)));
        Ok(count)
    }
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("url", &super::fetch::shown(&self.inner.url))
            .field("fail_open", &self.inner.fail_open)
            .finish_non_exhaustive()
    }
}
