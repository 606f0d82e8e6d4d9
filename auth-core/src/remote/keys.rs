//! [`RemoteKeys`]: keys from the issuer, by OIDC discovery or a configured `jwks_endpoint`,
//! cached, refreshed ahead of expiry, refetched at most once per cooldown for unknown `kid`s,
//! and kept through outages.

use super::fetch::{FetchError, HttpFetcher};
use crate::clock::{Clock, SystemClock};
use crate::config::AuthConfig;
use crate::keys::{KeySet, KeySource, KeysUnavailable, RefreshFuture};
use arc_swap::ArcSwapOption;
use serde::Deserialize;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const NEVER: i64 = i64::MIN;

/// Where the key set lives.
#[derive(Debug, Clone)]
enum Location {
    /// `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery { issuer: String },
    /// A configured `jwks_endpoint` (`Debug` without its query string).
    Jwks(crate::config::Endpoint),
}

/// One fetched key set.
struct Snapshot {
    keys: Arc<KeySet>,
    fetched_at: i64,
    /// `jwks_ttl_seconds`, shortened by `Cache-Control: max-age`.
    ttl: i64,
    etag: Option<String>,
    url: String,
}

/// A remote key set. Cheap to clone; clones share the cache.
///
/// - [`current`](KeySource::current) never waits: it returns the cached keys (even past
///   their TTL, up to `jwks_max_stale_seconds`) and starts a background refresh when they are
///   due (at 80 % of their lifetime).
/// - An unknown `kid` triggers at most one fetch per `jwks_refresh_cooldown_seconds`;
///   concurrent callers share that one fetch.
/// - A failed or unusable fetch keeps the last good keys and is logged.
#[derive(Clone)]
pub struct RemoteKeys {
    inner: Arc<Inner>,
}

struct Inner {
    fetcher: HttpFetcher,
    location: Location,
    discovered_jwks_uri: Mutex<Option<String>>,
    snapshot: ArcSwapOption<Snapshot>,
    /// Held by whoever fetches (never by readers): single flight.
    fetch_lock: tokio::sync::Mutex<()>,
    /// Completed fetch attempts, successful or not.
    attempts: AtomicU64,
    background: AtomicBool,
    /// Last on-demand fetch for an unknown `kid`, and for having no keys at all: each is
    /// limited to one per cooldown, so neither forged tokens nor an outage can turn requests
    /// into a stream of fetches.
    last_unknown_kid: AtomicI64,
    last_no_keys: AtomicI64,
    ttl: i64,
    cooldown: i64,
    max_stale: i64,
    clock: Arc<dyn Clock>,
    last_error: Mutex<Option<FetchError>>,
}

impl RemoteKeys {
    /// The key source the configuration describes: `jwks_endpoint`, or OIDC discovery from
    /// the issuer. Starts fetching in the background when called inside a tokio runtime.
    pub fn from_config(config: &AuthConfig, fetcher: HttpFetcher) -> Self {
        Self::with_clock(config, fetcher, Arc::new(SystemClock))
    }

    /// Same as [`from_config`](Self::from_config) with an injected clock (tests).
    pub fn with_clock(config: &AuthConfig, fetcher: HttpFetcher, clock: Arc<dyn Clock>) -> Self {
        let location = match config.jwks_endpoint() {
            Some(url) => Location::Jwks(crate::config::Endpoint(url.to_owned())),
            None => Location::Discovery {
                issuer: config.issuer().to_owned(),
            },
        };
        let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let me = Self {
            inner: Arc::new(Inner {
                fetcher,
                location,
                discovered_jwks_uri: Mutex::new(None),
                snapshot: ArcSwapOption::empty(),
                fetch_lock: tokio::sync::Mutex::new(()),
                attempts: AtomicU64::new(0),
                background: AtomicBool::new(false),
                last_unknown_kid: AtomicI64::new(NEVER),
                last_no_keys: AtomicI64::new(NEVER),
                ttl: secs(config.jwks_ttl()),
                cooldown: secs(config.jwks_refresh_cooldown()),
                max_stale: secs(config.jwks_max_stale()),
                clock,
                last_error: Mutex::new(None),
            }),
        };
        me.spawn_background_refresh();
        me
    }

    /// Fetches now (sharing a fetch already under way) and returns the keys, or why not.
    pub async fn refresh_now(&self) -> Result<Arc<KeySet>, FetchError> {
        let _guard = self.inner.fetch_lock.lock().await;
        self.inner.fetch_locked().await;
        match self.inner.usable() {
            Some(keys) if self.last_error().is_none() => Ok(keys),
            _ => Err(self.last_error().unwrap_or(FetchError::Invalid {
                url: String::new(),
                reason: "no keys".into(),
            })),
        }
    }

    /// Why the last fetch failed, if it did: for health checks and start-up diagnostics.
    pub fn last_error(&self) -> Option<FetchError> {
        self.inner.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Whether usable keys are cached.
    pub fn has_keys(&self) -> bool {
        self.inner.usable().is_some()
    }

    fn spawn_background_refresh(&self) {
        if self.inner.background.swap(true, Ordering::AcqRel) {
            return; // one already under way
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.background.store(false, Ordering::Release);
            return;
        };
        let inner = Arc::clone(&self.inner);
        runtime.spawn(async move {
            {
                let _guard = inner.fetch_lock.lock().await;
                // Someone may have refreshed while we waited for the lock.
                if inner.refresh_due() {
                    inner.fetch_locked().await;
                }
            }
            inner.background.store(false, Ordering::Release);
        });
    }
}

impl Inner {
    fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// The cached keys, if still within TTL + max stale.
    fn usable(&self) -> Option<Arc<KeySet>> {
        let snapshot = self.snapshot.load();
        let s = snapshot.as_ref()?;
        let limit = s
            .fetched_at
            .saturating_add(s.ttl)
            .saturating_add(self.max_stale);
        (self.now() < limit).then(|| Arc::clone(&s.keys))
    }

    /// Whether a background refresh should run (no keys, or 80 % of their lifetime gone).
    fn refresh_due(&self) -> bool {
        match self.snapshot.load().as_ref() {
            None => true,
            // 80 % of the TTL, without a multiplication that could overflow.
            Some(s) => self.now() >= s.fetched_at.saturating_add((s.ttl - s.ttl / 5).max(1)),
        }
    }

    /// Fetches once; the caller holds `fetch_lock`.
    async fn fetch_locked(&self) {
        let started = std::time::Instant::now();
        let result = self.fetch().await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("portcullis_key_fetches_total", "outcome" => outcome).increment(1);
        metrics::histogram!("portcullis_key_fetch_duration_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        let first = self.attempts.fetch_add(1, Ordering::AcqRel) == 0;
        let mut last_error = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => *last_error = None,
            Err(e) => {
                if self.snapshot.load().is_some() {
                    tracing::warn!(error = %e, "key set refresh failed; keeping the last good keys");
                } else {
                    tracing::error!(error = %e, "key set fetch failed; requests needing keys get 503 until it succeeds");
                    if first {
                        crate::authenticator::loud(&format!(
                            "ERROR: the key set could not be loaded ({e}); requests needing keys get 503 until it loads"
                        ));
                    }
                }
                *last_error = Some(e);
            }
        }
    }

    async fn fetch(&self) -> Result<(), FetchError> {
        let url = self.jwks_url().await?;
        let previous = self.snapshot.load_full();
        let etag = previous
            .as_ref()
            .filter(|p| p.url == url)
            .and_then(|p| p.etag.as_deref());
        let fetched = match self.fetcher.get(&url, etag, None).await {
            Ok(f) => f,
            Err(e) => {
                // The discovery document may have moved the key set: look again next time.
                if let Ok(mut uri) = self.discovered_jwks_uri.lock() {
                    *uri = None;
                }
                return Err(e);
            }
        };
        let ttl = fetched.max_age.map_or(self.ttl, |age| {
            self.ttl.min(i64::try_from(age).unwrap_or(i64::MAX)).max(1)
        });
        let now = self.now();
        let keys = if fetched.not_modified {
            match previous {
                Some(p) => Arc::clone(&p.keys),
                None => return Err(invalid(&url, "304 Not Modified without a cached key set")),
            }
        } else {
            let text = std::str::from_utf8(&fetched.body)
                .map_err(|_| invalid(&url, "key set is not UTF-8"))?;
            let (set, skipped) =
                KeySet::from_jwks_report(text).map_err(|e| invalid(&url, &e.to_string()))?;
            for s in &skipped {
                tracing::warn!(kid = ?s.kid, reason = s.reason, url = %super::fetch::shown(&url), "skipping unusable key in key set");
            }
            if set.is_empty() {
                return Err(invalid(&url, "key set has no usable key"));
            }
            tracing::info!(url = %super::fetch::shown(&url), keys = set.len(), "key set fetched");
            Arc::new(set)
        };
        self.snapshot.store(Some(Arc::new(Snapshot {
            keys,
            fetched_at: now,
            ttl,
            etag: fetched.etag,
            url,
        })));
        Ok(())
    }

    /// The JWKS URL: configured, or discovered (once, then cached).
    async fn jwks_url(&self) -> Result<String, FetchError> {
        let issuer = match &self.location {
            Location::Jwks(url) => return Ok(url.0.clone()),
            Location::Discovery { issuer } => issuer,
        };
        if let Some(uri) = self.discovered_jwks_uri.lock().ok().and_then(|u| u.clone()) {
            return Ok(uri);
        }
        let uri = discover(&self.fetcher, issuer).await?;
        if let Ok(mut cached) = self.discovered_jwks_uri.lock() {
            *cached = Some(uri.clone());
        }
        Ok(uri)
    }

    /// On-demand refresh (unknown `kid`, or no keys): joins a fetch under way, otherwise
    /// fetches if the cooldown allows.
    async fn refresh_on_demand(&self) -> Option<Arc<KeySet>> {
        let seen = self.attempts.load(Ordering::Acquire);
        let _guard = self.fetch_lock.lock().await;
        if self.attempts.load(Ordering::Acquire) != seen {
            return self.usable(); // shared the fetch that just finished
        }
        let now = self.now();
        let budget = if self.usable().is_some() {
            &self.last_unknown_kid
        } else {
            &self.last_no_keys
        };
        let last = budget.load(Ordering::Acquire);
        if last != NEVER && now.saturating_sub(last) < self.cooldown {
            return None;
        }
        budget.store(now, Ordering::Release);
        self.fetch_locked().await;
        self.usable()
    }
}

fn invalid(url: &str, reason: &str) -> FetchError {
    FetchError::Invalid {
        url: super::fetch::shown(url),
        reason: reason.to_owned(),
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

/// OIDC discovery (OpenID Connect Discovery 1.0 §4): the document's `issuer` must equal ours.
async fn discover(fetcher: &HttpFetcher, issuer: &str) -> Result<String, FetchError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let hint = format!(
        "no usable OIDC discovery document at {url}; set auth_client.jwks_endpoint to the issuer's key-set URL (pico-auth serves it at {}/api/v1/auth/jwks)",
        issuer.trim_end_matches('/')
    );
    let fetched = fetcher.get(&url, None, None).await.map_err(|e| match e {
        FetchError::Status { status, .. } => invalid(&url, &format!("HTTP {status}: {hint}")),
        other => other,
    })?;
    discovery_jwks_uri(&fetched.body, issuer, &url, &hint)
}

/// The `jwks_uri` of an OIDC discovery document fetched from `url`, after the checks of
/// OIDC Discovery §4.3: the document is JSON, its `issuer` equals ours exactly, and its
/// `jwks_uri` is https (or loopback http).
///
/// # Errors
/// [`FetchError`] naming what is wrong; never the document's content beyond the issuer.
pub fn jwks_uri_from_discovery(
    document: &[u8],
    issuer: &str,
    url: &str,
) -> Result<String, FetchError> {
    let hint =
        "not an OIDC discovery document; set auth_client.jwks_endpoint to the issuer's key-set URL";
    discovery_jwks_uri(document, issuer, url, hint)
}

fn discovery_jwks_uri(
    document: &[u8],
    issuer: &str,
    url: &str,
    hint: &str,
) -> Result<String, FetchError> {
    let doc: Discovery = serde_json::from_slice(document).map_err(|_| invalid(url, hint))?;
    match doc.issuer.as_deref() {
        Some(found) if found == issuer => {}
        found => {
            // The document is the network's: quote a bounded part of it.
            let named = found.map_or_else(
                || "no issuer".to_owned(),
                |f| format!("issuer {:?}", f.chars().take(200).collect::<String>()),
            );
            return Err(invalid(
                url,
                &format!(
                    "discovery document names {named}, but auth_client.issuer is {issuer:?}; they must be equal (OIDC Discovery §4.3)"
                ),
            ));
        }
    }
    let jwks_uri = doc
        .jwks_uri
        .ok_or_else(|| invalid(url, "discovery document has no jwks_uri"))?;
    match url::Url::parse(&jwks_uri) {
        Ok(u) if super::fetch::allowed_url(&u) => Ok(jwks_uri),
        _ => Err(FetchError::InsecureUrl(super::fetch::shown(&jwks_uri))),
    }
}

impl KeySource for RemoteKeys {
    fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        match self.inner.usable() {
            Some(keys) => {
                if self.inner.refresh_due() {
                    self.spawn_background_refresh();
                }
                Ok(keys)
            }
            None => Err(KeysUnavailable {
                retry_after: u64::try_from(self.inner.cooldown).unwrap_or(30),
            }),
        }
    }

    fn status(&self) -> crate::keys::KeyStatus {
        let inner = &self.inner;
        if inner.refresh_due() {
            // Readiness probes keep the keys refreshing (one fetch at a time).
            self.spawn_background_refresh();
        }
        let snapshot = inner.snapshot.load();
        let now = inner.now();
        let last_error = self.last_error().map(|e| e.to_string());
        let (fresh_by_age, age) = snapshot.as_ref().map_or((false, None), |s| {
            (
                now < s.fetched_at.saturating_add(s.ttl),
                u64::try_from(now.saturating_sub(s.fetched_at)).ok(),
            )
        });
        let loaded = inner.usable().is_some();
        crate::keys::KeyStatus::new(
            loaded,
            loaded && fresh_by_age && last_error.is_none(),
            age,
            last_error,
        )
    }

    fn refresh<'a>(&'a self, _kid: Option<&'a str>) -> RefreshFuture<'a> {
        Box::pin(self.inner.refresh_on_demand())
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("location", &self.inner.location)
            .field("has_keys", &self.has_keys())
            .finish_non_exhaustive()
    }
}
