//! The one HTTP client portcullis uses for discovery, key sets and the revocation list:
//! timeouts, a response size cap, `https` only (plain `http` on loopback), and no redirect
//! that leaves those rules.

use crate::config::Secret;
use std::fmt;
use std::time::Duration;

/// Largest response body portcullis reads (discovery, JWKS, revocation list).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
const MAX_REDIRECTS: usize = 3;

/// What went wrong with a fetch. Logged, never shown to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not `https` (or loopback `http`).
    #[error("refusing to fetch {0}: only https (or http on localhost, 127.0.0.1, ::1) is allowed")]
    InsecureUrl(String),
    /// Connection, TLS, redirect or timeout failure.
    #[error("request to {url} failed: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// A short category (timeout, connect, redirect, ...).
        reason: &'static str,
    },
    /// A status other than 200 (or 304 when revalidating).
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than [`MAX_RESPONSE_BYTES`].
    #[error("{0} sent a response larger than 1 MiB")]
    TooLarge(String),
    /// The body is not what was expected.
    #[error("{url}: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A successful response.
pub(crate) struct Fetched {
    /// 200, or 304 when `If-None-Match` matched.
    pub(crate) not_modified: bool,
    pub(crate) body: Vec<u8>,
    pub(crate) etag: Option<String>,
    /// `Cache-Control: max-age`, in seconds.
    pub(crate) max_age: Option<u64>,
}

/// The shared HTTP client.
#[derive(Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    timeout: Duration,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `url` as it may appear in an error or a log: no query string or fragment, which can carry
/// tokens (`?access_token=...`).
pub(crate) fn shown(url: &str) -> String {
    crate::config::redact_url(url)
}

/// Whether portcullis may fetch from `url`.
pub(crate) fn allowed_url(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => crate::config::is_loopback(url),
        _ => false,
    }
}

impl HttpFetcher {
    /// A client with connect and total timeouts of `timeout`, rustls, and a redirect policy
    /// that refuses to leave `https` (or loopback `http`).
    pub fn new(timeout: Duration) -> Self {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if allowed_url(attempt.url()) {
                attempt.follow()
            } else {
                attempt.error("redirect to a non-https URL")
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(policy)
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { client, timeout }
    }

    /// Uses your own `reqwest` client (proxy, custom roots...). portcullis still applies its
    /// per-request timeout, size cap and URL rule; redirects follow your client's policy.
    pub fn with_client(client: reqwest::Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }

    /// GET `url`, revalidating with `etag`, authenticating with `bearer`.
    pub(crate) async fn get(
        &self,
        url: &str,
        etag: Option<&str>,
        bearer: Option<&Secret>,
    ) -> Result<Fetched, FetchError> {
        let parsed = url::Url::parse(url).map_err(|_| FetchError::InsecureUrl(shown(url)))?;
        if !allowed_url(&parsed) {
            return Err(FetchError::InsecureUrl(shown(url)));
        }
        let mut request = self
            .client
            .get(parsed)
            .timeout(self.timeout)
            .header("accept", "application/json");
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer.expose());
        }
        let transport = |e: reqwest::Error| FetchError::Transport {
            url: shown(url),
            reason: if e.is_timeout() {
                "timeout"
            } else if e.is_redirect() {
                "redirect refused"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "transport error"
            },
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag");
        let max_age = header("cache-control").and_then(|v| max_age(&v));
        if status == 304 {
            return Ok(Fetched {
                not_modified: true,
                body: Vec::new(),
                etag,
                max_age,
            });
        }
        if status != 200 {
            return Err(FetchError::Status {
                url: shown(url),
                status,
            });
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(FetchError::TooLarge(shown(url)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(FetchError::TooLarge(shown(url)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            not_modified: false,
            body,
            etag,
            max_age,
        })
    }
}

/// `max-age=N` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<u64> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| value.trim().trim_matches('"').parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age() {
        assert_eq!(max_age("public, max-age=60"), Some(60));
        assert_eq!(max_age("Max-Age = 5"), Some(5));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }

    #[test]
    fn errors_show_no_query_string() {
        assert_eq!(
            shown("https://a.example/revoked?token=abc"),
            "https://a.example/revoked?…"
        );
        assert_eq!(
            shown("https://a.example/jwks#frag"),
            "https://a.example/jwks?…"
        );
        assert_eq!(shown("https://a.example/jwks"), "https://a.example/jwks");
    }

    #[test]
    fn url_rule() {
        let ok = |u: &str| allowed_url(&url::Url::parse(u).unwrap_or_else(|e| panic!("{e}")));
        assert!(ok("https://issuer.example/jwks"));
        assert!(ok("http://127.0.0.1:8080/jwks"));
        assert!(ok("http://localhost/jwks"));
        assert!(ok("http://[::1]/jwks"));
        assert!(!ok("http://issuer.example/jwks"));
        assert!(!ok("http://10.0.0.1/jwks"));
        assert!(!ok("file:///etc/passwd"));
    }
}
