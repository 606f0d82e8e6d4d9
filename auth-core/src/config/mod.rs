//! Configuration: the `auth_client` section of `application.yaml`, the environment, or code.
//!
//! Every source feeds one [`AuthConfigBuilder`]; [`AuthConfigBuilder::build`] checks
//! everything at once and returns every problem with its key path and a fix, so a typo such
//! as `audiance` stops the application at start instead of silently dropping a check.
//!
//! ```
//! use portcullis_core::AuthConfig;
//!
//! let config = AuthConfig::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("my-api")
//!     .build()
//!     .expect("valid configuration");
//! assert_eq!(config.leeway_seconds(), 30);
//!
//! let err = AuthConfig::builder().issuer("https://auth.example.com").build().unwrap_err();
//! assert_eq!(
//!     err.problems()[0].to_string(),
//!     "auth_client.audience must be set when auth is enabled (the API identifier your issuer puts in `aud`, e.g. `audience: my-api`; for tokens without `aud`, such as Cognito access tokens, set `client_ids` instead)"
//! );
//! ```

mod load;
mod validate;

use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::claim_path::ClaimPath;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) use load::read_bounded;
pub use load::ENV_PREFIX;
#[cfg(feature = "remote")]
pub(crate) use validate::is_loopback;

/// A configured URL. `Debug` shows it without its query string or fragment, which may carry
/// a token (a revocation endpoint with `?access_token=...`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Endpoint(pub(crate) String);

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

/// `url` without its user information, query string or fragment (where a key-set or Redis
/// URL may carry a credential), for messages, logs and `Debug`.
///
/// ```
/// use portcullis_core::config::redact_url;
/// assert_eq!(redact_url("https://i.test/jwks?key=s3cret"), "https://i.test/jwks?…");
/// assert_eq!(redact_url("redis://:hunter2@cache:6379/0"), "redis://…@cache:6379/0");
/// ```
pub fn redact_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let (head, tail) = url.split_at(cut);
    let head = match head.find("://") {
        Some(i) => {
            let rest = &head[i + 3..];
            let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
            match authority.rfind('@') {
                Some(at) => format!("{}://…@{}", &head[..i], &rest[at + 1..]),
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    if tail.is_empty() {
        head
    } else {
        format!("{head}?…")
    }
}

/// A secret string (shared HMAC secret, revocation bearer): never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Validated configuration of portcullis. Build it with [`AuthConfig::builder`] or
/// [`AuthConfig::load`]; it cannot be changed afterwards.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthConfig {
    pub(crate) enabled: bool,
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) jwks_endpoint: Option<Endpoint>,
    pub(crate) jwks_file: Option<PathBuf>,
    pub(crate) jwks_ttl: Duration,
    pub(crate) jwks_refresh_cooldown: Duration,
    pub(crate) jwks_max_stale: Duration,
    pub(crate) http_timeout: Duration,
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) leeway_seconds: u64,
    pub(crate) role_claims: Vec<ClaimPath>,
    pub(crate) group_claims: Vec<ClaimPath>,
    pub(crate) scope_claims: Vec<ClaimPath>,
    pub(crate) required_claims: Vec<String>,
    pub(crate) require_typ: Option<String>,
    pub(crate) agent_require_typ: Option<String>,
    pub(crate) agent_required_claims: Vec<String>,
    pub(crate) max_token_bytes: usize,
    pub(crate) cache_max_entries: usize,
    pub(crate) cache_max_bytes: u64,
    pub(crate) shared_secret: Option<Secret>,
    pub(crate) revocation_endpoint: Option<Endpoint>,
    pub(crate) revocation_ttl: Duration,
    pub(crate) revocation_fail_open: bool,
    pub(crate) revocation_bearer: Option<Secret>,
    pub(crate) token_sources: crate::jws::TokenSources,
    pub(crate) client_ids: Vec<String>,
    pub(crate) client_id_claims: Vec<String>,
    pub(crate) required_claim_values: Vec<(String, String)>,
    /// The issuers trusted besides this one (`issuers:` from the second entry on).
    pub(crate) others: Vec<AuthConfig>,
    pub(crate) dpop: DpopSettings,
}

/// The application's DPoP settings (`dpop`, `dpop_*`), validated.
#[derive(Debug, Clone, Default)]
pub(crate) struct DpopSettings {
    pub(crate) mode: crate::dpop::DpopMode,
    pub(crate) policy: crate::dpop::ProofPolicy,
    pub(crate) replay_max_entries: usize,
    pub(crate) replay_fail_open: bool,
    pub(crate) replay_redis_url: Option<Secret>,
}

/// One entry of `issuers:`: keys read from YAML (applied over the section's own keys), or a
/// builder given in code (standing alone).
#[derive(Debug, Clone)]
pub(crate) enum IssuerEntry {
    Keys(Vec<(String, serde_json::Value)>),
    Builder(Box<AuthConfigBuilder>),
}

impl AuthConfig {
    /// An empty builder (every key at its default).
    pub fn builder() -> AuthConfigBuilder {
        AuthConfigBuilder::default()
    }

    /// Loads the `auth_client` section of a YAML file, then the `AUTH_CLIENT__*` environment
    /// (which wins), and validates the result.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        Self::builder().yaml_file(path).env().build()
    }

    /// Whether authentication is on. `false` means every request passes anonymously.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
    /// `client_ids`: clients whose tokens are accepted, read from the first of
    /// [`client_id_claims`](Self::client_id_claims) a token carries (Cognito access tokens
    /// have no `aud`). Empty: no client rule.
    pub fn client_ids(&self) -> &[String] {
        &self.client_ids
    }
    /// `client_id_claims`: where a token names its client (default `client_id`, `azp`, `cid`,
    /// `appid`: OAuth2/RFC 9068, OIDC, Okta, Entra ID v1).
    pub fn client_id_claims(&self) -> &[String] {
        &self.client_id_claims
    }
    /// `required_claim_values`: claims that must carry exactly this value (or contain it, for
    /// a list), e.g. Cognito's `token_use: access`.
    pub fn required_claim_values(&self) -> &[(String, String)] {
        &self.required_claim_values
    }
    /// Every trusted issuer's settings: this configuration first, then the other entries of
    /// `issuers:`.
    pub fn issuers(&self) -> impl Iterator<Item = &AuthConfig> {
        std::iter::once(self).chain(self.others.iter())
    }

    /// Where a caller's token may be besides `Authorization: Bearer` (`token_header`,
    /// `token_cookie`, `token_query`); adapters read them with
    /// [`RequestCredentials::with_sources`](crate::RequestCredentials::with_sources).
    pub fn token_sources(&self) -> &crate::jws::TokenSources {
        &self.token_sources
    }
    /// The exact issuer every token's `iss` must equal.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The accepted audiences; a token's `aud` must contain at least one.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
    /// The configured key-set URL; `None` means OIDC discovery from the issuer.
    pub fn jwks_endpoint(&self) -> Option<&str> {
        self.jwks_endpoint.as_ref().map(|u| u.0.as_str())
    }
    /// A local JWKS file to verify with, instead of fetching keys.
    pub fn jwks_file(&self) -> Option<&std::path::Path> {
        self.jwks_file.as_deref()
    }
    /// How long fetched keys are cached.
    pub fn jwks_ttl(&self) -> Duration {
        self.jwks_ttl
    }
    /// Minimum time between two refreshes triggered by unknown `kid`s.
    pub fn jwks_refresh_cooldown(&self) -> Duration {
        self.jwks_refresh_cooldown
    }
    /// How long the last good keys stay usable while the issuer cannot be reached.
    pub fn jwks_max_stale(&self) -> Duration {
        self.jwks_max_stale
    }
    /// Connect and total timeout of every HTTP request portcullis makes.
    pub fn http_timeout(&self) -> Duration {
        self.http_timeout
    }
    /// The algorithm allowlist.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub fn leeway_seconds(&self) -> u64 {
        self.leeway_seconds
    }
    /// Where roles are read from, in order.
    pub fn role_claims(&self) -> &[ClaimPath] {
        &self.role_claims
    }
    /// Where groups are read from, in order.
    pub fn group_claims(&self) -> &[ClaimPath] {
        &self.group_claims
    }
    /// Where scopes are read from, in order.
    pub fn scope_claims(&self) -> &[ClaimPath] {
        &self.scope_claims
    }
    /// Claims every token must carry (`exp` is always among them).
    pub fn required_claims(&self) -> &[String] {
        &self.required_claims
    }
    /// The header `typ` every token must carry, if any (e.g. `at+jwt`).
    pub fn require_typ(&self) -> Option<&str> {
        self.require_typ.as_deref()
    }
    /// The header `typ` every agent token (`X-Agent-Authorization`) must carry, if any
    /// (e.g. `agent+jwt`). When set, a token carrying it is refused as the caller's own.
    pub fn agent_require_typ(&self) -> Option<&str> {
        self.agent_require_typ.as_deref()
    }
    /// Claims every agent token must carry (e.g. `task_type`).
    pub fn agent_required_claims(&self) -> &[String] {
        &self.agent_required_claims
    }
    /// Tokens longer than this are rejected before any decoding.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }
    /// Values that can never match a token: a `{tenantid}`-style template or a
    /// comma-joined list in `issuer` or an audience (logged as warnings at start).
    pub fn never_matching(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut check = |key: &str, value: &str| {
            if value.contains('{') && value.contains('}') {
                found.push(format!(
                    "auth_client.{key} {value:?} holds a template (`{{...}}`): tokens carry the real value, so it never matches; write the value itself"
                ));
            }
            if value.contains(',') {
                found.push(format!(
                    "auth_client.{key} {value:?} holds a comma: it is one value, not a list, and never matches; use a YAML list for several"
                ));
            }
        };
        check("issuer", &self.issuer);
        for audience in &self.audiences {
            check("audience", audience);
        }
        found
    }
    /// How many verified tokens the cache keeps at most (0: no cache).
    pub fn cache_max_entries(&self) -> usize {
        self.cache_max_entries
    }
    /// How many bytes the verified-token cache may hold at most (tokens and claims).
    pub fn cache_max_bytes(&self) -> u64 {
        self.cache_max_bytes
    }
    /// The shared secret for `HS*` algorithms, if configured.
    pub fn shared_secret(&self) -> Option<&Secret> {
        self.shared_secret.as_ref()
    }
    /// The revocation denylist URL, if revocation is on.
    pub fn revocation_endpoint(&self) -> Option<&str> {
        self.revocation_endpoint.as_ref().map(|u| u.0.as_str())
    }
    /// Poll interval of the revocation list.
    pub fn revocation_ttl(&self) -> Duration {
        self.revocation_ttl
    }
    /// Whether tokens pass while the revocation list cannot be fetched.
    pub fn revocation_fail_open(&self) -> bool {
        self.revocation_fail_open
    }
    /// Bearer token sent with the revocation poll, if any.
    pub fn revocation_bearer(&self) -> Option<&Secret> {
        self.revocation_bearer.as_ref()
    }

    /// How DPoP-bound tokens are taken (`dpop`: off, allowed, required).
    pub fn dpop_mode(&self) -> crate::dpop::DpopMode {
        self.dpop.mode
    }

    /// The rules DPoP proofs are checked against (`dpop_algorithms`,
    /// `dpop_proof_max_age_seconds`, `dpop_origins`, and `leeway_seconds`).
    pub fn dpop_policy(&self) -> &crate::dpop::ProofPolicy {
        &self.dpop.policy
    }

    /// The bound of the in-memory DPoP replay store (`dpop_replay_max_entries`).
    pub fn dpop_replay_max_entries(&self) -> usize {
        self.dpop.replay_max_entries
    }

    /// Whether a request is admitted when the replay store cannot be reached
    /// (`dpop_replay_fail_open`; dangerous: a replayed proof is then accepted).
    pub fn dpop_replay_fail_open(&self) -> bool {
        self.dpop.replay_fail_open
    }

    /// The Redis replay store's URL (`dpop_replay_redis_url`, feature `redis`).
    pub fn dpop_replay_redis_url(&self) -> Option<&Secret> {
        self.dpop.replay_redis_url.as_ref()
    }
}

/// Collects configuration from any mix of sources; later sources win. Nothing is checked
/// until [`build`](Self::build), which reports every problem at once.
#[derive(Debug, Default, Clone)]
pub struct AuthConfigBuilder {
    pub(crate) enabled: Option<bool>,
    pub(crate) issuer: Option<String>,
    pub(crate) audiences: Option<Vec<String>>,
    pub(crate) jwks_endpoint: Option<Endpoint>,
    pub(crate) jwks_file: Option<String>,
    pub(crate) jwks_ttl_seconds: Option<u64>,
    pub(crate) jwks_refresh_cooldown_seconds: Option<u64>,
    pub(crate) jwks_max_stale_seconds: Option<u64>,
    pub(crate) http_timeout_seconds: Option<u64>,
    pub(crate) accepted_algorithms: Option<Vec<String>>,
    pub(crate) leeway_seconds: Option<u64>,
    pub(crate) role_claims: Option<Vec<String>>,
    pub(crate) group_claims: Option<Vec<String>>,
    pub(crate) scope_claims: Option<Vec<String>>,
    pub(crate) required_claims: Option<Vec<String>>,
    pub(crate) require_typ: Option<String>,
    pub(crate) agent_require_typ: Option<String>,
    pub(crate) agent_required_claims: Option<Vec<String>>,
    pub(crate) max_token_bytes: Option<u64>,
    pub(crate) cache_max_entries: Option<u64>,
    pub(crate) cache_max_bytes: Option<u64>,
    pub(crate) shared_secret: Option<Secret>,
    pub(crate) revocation_endpoint: Option<Endpoint>,
    pub(crate) revocation_ttl_seconds: Option<u64>,
    pub(crate) revocation_fail_open: Option<bool>,
    pub(crate) revocation_bearer: Option<Secret>,
    pub(crate) token_header: Option<String>,
    pub(crate) token_cookie: Option<String>,
    pub(crate) token_query: Option<String>,
    pub(crate) client_ids: Option<Vec<String>>,
    pub(crate) client_id_claims: Option<Vec<String>>,
    pub(crate) required_claim_values: Option<Vec<(String, String)>>,
    pub(crate) issuers: Option<Vec<IssuerEntry>>,
    pub(crate) dpop: Option<String>,
    pub(crate) dpop_algorithms: Option<Vec<String>>,
    pub(crate) dpop_proof_max_age_seconds: Option<u64>,
    pub(crate) dpop_origins: Option<Vec<String>>,
    pub(crate) dpop_replay_max_entries: Option<u64>,
    pub(crate) dpop_replay_fail_open: Option<bool>,
    pub(crate) dpop_replay_redis_url: Option<Secret>,
    /// Problems found while reading sources (bad YAML, unknown keys, wrong types).
    pub(crate) problems: Vec<ConfigProblem>,
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

impl AuthConfigBuilder {
    /// `enabled` (default `true`). `false` lets every request through anonymously.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }
    /// `issuer` (required when enabled): the exact `iss` value.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// `audience` (required when enabled): one accepted audience.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences = Some(vec![audience.into()]);
        self
    }
    /// `audience` as a list: a token must name at least one of them.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.audiences = Some(strings(audiences));
        self
    }
    /// `jwks_endpoint`: fetch keys from this URL instead of OIDC discovery.
    pub fn jwks_endpoint(mut self, url: impl Into<String>) -> Self {
        self.jwks_endpoint = Some(Endpoint(url.into()));
        self
    }
    /// `jwks_file`: verify with the keys of a local JWKS file; nothing is fetched.
    pub fn jwks_file(mut self, path: impl Into<String>) -> Self {
        self.jwks_file = Some(path.into());
        self
    }
    /// `jwks_ttl_seconds` (default 300).
    pub fn jwks_ttl_seconds(mut self, secs: u64) -> Self {
        self.jwks_ttl_seconds = Some(secs);
        self
    }
    /// `jwks_refresh_cooldown_seconds` (default 30).
    pub fn jwks_refresh_cooldown_seconds(mut self, secs: u64) -> Self {
        self.jwks_refresh_cooldown_seconds = Some(secs);
        self
    }
    /// `jwks_max_stale_seconds` (default 86400).
    pub fn jwks_max_stale_seconds(mut self, secs: u64) -> Self {
        self.jwks_max_stale_seconds = Some(secs);
        self
    }
    /// `http_timeout_seconds` (default 5).
    pub fn http_timeout_seconds(mut self, secs: u64) -> Self {
        self.http_timeout_seconds = Some(secs);
        self
    }
    /// `accepted_algorithms` (default `["RS256"]`), by JWS name.
    pub fn accepted_algorithms<I, S>(mut self, algorithms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.accepted_algorithms = Some(strings(algorithms));
        self
    }
    /// Same as [`accepted_algorithms`](Self::accepted_algorithms), typed.
    pub fn algorithms(self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.accepted_algorithms(algorithms.into_iter().map(Algorithm::as_str))
    }
    /// `leeway_seconds` (default 30): clock skew tolerated on `exp`, `nbf`, `iat`.
    pub fn leeway_seconds(mut self, secs: u64) -> Self {
        self.leeway_seconds = Some(secs);
        self
    }
    /// `role_claims` (default `["roles", "role"]`): dotted claim paths.
    pub fn role_claims<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.role_claims = Some(strings(paths));
        self
    }
    /// `group_claims` (default `["groups"]`): dotted claim paths.
    pub fn group_claims<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.group_claims = Some(strings(paths));
        self
    }
    /// `scope_claims` (default `["scope", "scp"]`): dotted claim paths.
    pub fn scope_claims<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.scope_claims = Some(strings(paths));
        self
    }
    /// `required_claims` (default `["exp"]`; `exp` is always required).
    pub fn required_claims<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.required_claims = Some(strings(names));
        self
    }
    /// `token_header`: a request header that may carry the bare token (no `Bearer `), e.g.
    /// `x-api-token`, on every route, instead of `Authorization`.
    pub fn token_header(mut self, name: impl Into<String>) -> Self {
        self.token_header = Some(name.into());
        self
    }
    /// `token_cookie`: a cookie that may carry the token, on every route, e.g. for browser
    /// sessions (mind CSRF: a cookie is sent by the browser on cross-site requests too).
    pub fn token_cookie(mut self, name: impl Into<String>) -> Self {
        self.token_cookie = Some(name.into());
        self
    }
    /// `token_query`: a query parameter that may carry the token, read on WebSocket upgrades
    /// only (`Upgrade: websocket`: browsers cannot set headers on them); on any other request
    /// a token in the URL is ignored. URLs end up in access logs, proxies and browser history:
    /// portcullis never logs it, make sure nothing in front of it does.
    pub fn token_query(mut self, name: impl Into<String>) -> Self {
        self.token_query = Some(name.into());
        self
    }
    /// `client_ids`: accept tokens of these clients (see [`AuthConfig::client_ids`]); with or
    /// instead of `audience`.
    pub fn client_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.client_ids = Some(strings(ids));
        self
    }
    /// `client_id_claims`: where tokens name their client (see
    /// [`AuthConfig::client_id_claims`]).
    pub fn client_id_claims<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.client_id_claims = Some(strings(names));
        self
    }
    /// `required_claim_values`: add a claim that must carry `value`.
    pub fn required_claim_value(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.required_claim_values
            .get_or_insert_with(Vec::new)
            .push((name.into(), value.into()));
        self
    }
    /// `issuers`: trust one more issuer, with its own settings (`issuer`, `audience`, key
    /// source, algorithms, claim paths, ...). The unverified `iss` of a token only selects the
    /// settings; each issuer's keys verify only its own tokens. Given in code, `entry` stands
    /// alone (it inherits nothing); in YAML, an entry inherits the section's keys.
    pub fn also_trust(mut self, entry: AuthConfigBuilder) -> Self {
        self.issuers
            .get_or_insert_with(Vec::new)
            .push(IssuerEntry::Builder(Box::new(entry)));
        self
    }
    /// `require_typ`: the header `typ` every token must have, e.g. `at+jwt` (RFC 9068).
    pub fn require_typ(mut self, typ: impl Into<String>) -> Self {
        self.require_typ = Some(typ.into());
        self
    }
    /// `agent_require_typ`: the header `typ` every agent token must have (e.g. `agent+jwt`),
    /// so that a caller's own token cannot stand in for an agent's; a token with this `typ`
    /// is in turn refused as a caller's token.
    pub fn agent_require_typ(mut self, typ: impl Into<String>) -> Self {
        self.agent_require_typ = Some(typ.into());
        self
    }
    /// `agent_required_claims`: claims every agent token must carry (e.g. `task_type`).
    pub fn agent_required_claims<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.agent_required_claims = Some(strings(names));
        self
    }
    /// `cache_max_entries`: verified tokens kept for repeated requests (default 10000; 0
    /// turns the cache off).
    pub fn cache_max_entries(mut self, entries: u64) -> Self {
        self.cache_max_entries = Some(entries);
        self
    }
    /// `cache_max_bytes`: memory bound of the verified-token cache (default 16 MiB).
    pub fn cache_max_bytes(mut self, bytes: u64) -> Self {
        self.cache_max_bytes = Some(bytes);
        self
    }
    /// `max_token_bytes` (default 8192).
    pub fn max_token_bytes(mut self, bytes: u64) -> Self {
        self.max_token_bytes = Some(bytes);
        self
    }
    /// `shared_secret`: the HMAC secret, needed for (and only for) `HS*` algorithms.
    pub fn shared_secret(mut self, secret: impl Into<String>) -> Self {
        self.shared_secret = Some(Secret::new(secret));
        self
    }
    /// `revocation_endpoint`: URL of the `jti` denylist (empty: off).
    pub fn revocation_endpoint(mut self, url: impl Into<String>) -> Self {
        self.revocation_endpoint = Some(Endpoint(url.into()));
        self
    }
    /// `revocation_ttl_seconds` (default 15, at least 1).
    pub fn revocation_ttl_seconds(mut self, secs: u64) -> Self {
        self.revocation_ttl_seconds = Some(secs);
        self
    }
    /// `revocation_fail_open` (default `false`).
    pub fn revocation_fail_open(mut self, fail_open: bool) -> Self {
        self.revocation_fail_open = Some(fail_open);
        self
    }
    /// `revocation_bearer`: bearer token sent with the revocation poll.
    pub fn revocation_bearer(mut self, token: impl Into<String>) -> Self {
        self.revocation_bearer = Some(Secret::new(token));
        self
    }

    /// DPoP (RFC 9449): `Off` (default), `Allowed` (bearer and DPoP-bound tokens) or
    /// `Required` (DPoP-bound tokens only).
    pub fn dpop(mut self, mode: crate::dpop::DpopMode) -> Self {
        self.dpop = Some(mode.as_str().to_owned());
        self
    }

    /// The algorithms a DPoP proof may be signed with (default: every asymmetric one).
    pub fn dpop_algorithms<I, S>(mut self, algorithms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dpop_algorithms = Some(algorithms.into_iter().map(Into::into).collect());
        self
    }

    /// How old a DPoP proof may be (default 60 s; `leeway_seconds` is added).
    pub fn dpop_proof_max_age_seconds(mut self, secs: u64) -> Self {
        self.dpop_proof_max_age_seconds = Some(secs);
        self
    }

    /// The public origins clients name in a proof's `htu` (`https://api.example.com`), for
    /// an application behind a proxy; without any, `htu` must name the request's `Host`.
    pub fn dpop_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dpop_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// The bound of the in-memory replay store (default 250,000 proofs).
    pub fn dpop_replay_max_entries(mut self, entries: u64) -> Self {
        self.dpop_replay_max_entries = Some(entries);
        self
    }

    /// Admit a request when the replay store cannot be reached (default `false`: 503).
    /// Dangerous: while the store is down, a captured proof can be replayed.
    pub fn dpop_replay_fail_open(mut self, fail_open: bool) -> Self {
        self.dpop_replay_fail_open = Some(fail_open);
        self
    }

    /// A Redis replay store shared by every instance (feature `redis`).
    pub fn dpop_replay_redis_url(mut self, url: impl Into<String>) -> Self {
        self.dpop_replay_redis_url = Some(Secret::new(url));
        self
    }

    /// Checks everything and returns the configuration, or every problem found.
    pub fn build(mut self) -> Result<AuthConfig, ConfigError> {
        let Some(entries) = self.issuers.take().filter(|e| !e.is_empty()) else {
            return validate::build(self);
        };
        let mut problems = Vec::new();
        let top_level_issuer = self.issuer.as_deref().is_some_and(|i| !i.trim().is_empty());
        // What a YAML entry inherits from the section: everything but the issuer, its key
        // source (an entry's keys are its own, never another issuer's) and the section-wide
        // keys (which entries may not set at all).
        let mut inherited = self.clone();
        inherited.problems.clear();
        inherited.issuer = None;
        inherited.jwks_endpoint = None;
        inherited.jwks_file = None;
        inherited.shared_secret = None;
        let mut built = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let label = format!("auth_client.issuers[{i}]");
            let builder = match entry {
                IssuerEntry::Builder(b) => {
                    for key in b.section_wide_keys_set() {
                        problems.push(ConfigProblem::new(
                            format!("{label}.{key}"),
                            SECTION_WIDE_IN_ENTRY,
                        ));
                    }
                    *b
                }
                IssuerEntry::Keys(pairs) => {
                    let mut b = inherited.clone();
                    for (key, value) in pairs {
                        if SECTION_WIDE_KEYS.contains(&key.as_str()) {
                            problems.push(ConfigProblem::new(
                                format!("{label}.{key}"),
                                SECTION_WIDE_IN_ENTRY,
                            ));
                            continue;
                        }
                        b.apply_from(&key, value, &format!("{label}.{key}"));
                    }
                    b
                }
            };
            match validate::build(builder) {
                Ok(c) => built.push(c),
                Err(e) => problems.extend(e.problems.into_iter().map(|p| {
                    let key = p
                        .key
                        .strip_prefix("auth_client.")
                        .map_or(p.key.clone(), |rest| format!("{label}.{rest}"));
                    ConfigProblem::new(key, p.message)
                })),
            }
        }
        // The section-wide settings (enabled, leeway, sizes, cache, token sources, agents,
        // revocation) always come from the section itself, never from an entry.
        let section = if top_level_issuer {
            validate::build(self)
        } else {
            // No issuer of its own: validated for its section-wide keys only.
            let mut section = self;
            section.issuer = Some("https://section.invalid".to_owned());
            section.audiences = Some(vec!["section".to_owned()]);
            section.client_ids = None;
            validate::build(section)
        };
        let section = match section {
            Ok(section) => Some(section),
            Err(e) => {
                problems.extend(e.problems);
                None
            }
        };
        let mut seen = std::collections::HashMap::new();
        let all: Vec<&AuthConfig> = section
            .iter()
            .filter(|_| top_level_issuer)
            .chain(built.iter())
            .collect();
        for c in &all {
            // Spellings that differ only by case or a trailing slash are one issuer too.
            let normal = c.issuer.trim_end_matches('/').to_ascii_lowercase();
            if let Some(first) = seen.insert(normal, c.issuer.clone()) {
                problems.push(ConfigProblem::new(
                    "auth_client.issuers",
                    format!(
                        "{:?} and {:?} name the same issuer: list each issuer once, with all its audiences, spelled as its tokens spell it",
                        first, c.issuer
                    ),
                ));
            }
        }
        let Some(section) = section.filter(|_| problems.is_empty()) else {
            return Err(ConfigError { problems });
        };
        let mut all: Vec<AuthConfig> = if top_level_issuer {
            std::iter::once(section.clone()).chain(built).collect()
        } else {
            built
        };
        let mut main = all.remove(0);
        main.adopt_section(&section);
        for other in &mut all {
            other.adopt_section(&section);
        }
        main.others = all;
        Ok(main)
    }

    /// The section-wide keys this builder sets (an entry given in code may set none).
    fn section_wide_keys_set(&self) -> Vec<&'static str> {
        let set = [
            ("enabled", self.enabled.is_some()),
            ("leeway_seconds", self.leeway_seconds.is_some()),
            ("max_token_bytes", self.max_token_bytes.is_some()),
            ("cache_max_entries", self.cache_max_entries.is_some()),
            ("cache_max_bytes", self.cache_max_bytes.is_some()),
            ("token_header", self.token_header.is_some()),
            ("token_cookie", self.token_cookie.is_some()),
            ("token_query", self.token_query.is_some()),
            ("agent_require_typ", self.agent_require_typ.is_some()),
            (
                "agent_required_claims",
                self.agent_required_claims.is_some(),
            ),
            ("revocation_endpoint", self.revocation_endpoint.is_some()),
            (
                "revocation_ttl_seconds",
                self.revocation_ttl_seconds.is_some(),
            ),
            ("revocation_fail_open", self.revocation_fail_open.is_some()),
            ("revocation_bearer", self.revocation_bearer.is_some()),
            ("dpop", self.dpop.is_some()),
            ("dpop_algorithms", self.dpop_algorithms.is_some()),
            (
                "dpop_proof_max_age_seconds",
                self.dpop_proof_max_age_seconds.is_some(),
            ),
            ("dpop_origins", self.dpop_origins.is_some()),
            (
                "dpop_replay_max_entries",
                self.dpop_replay_max_entries.is_some(),
            ),
            (
                "dpop_replay_fail_open",
                self.dpop_replay_fail_open.is_some(),
            ),
            (
                "dpop_replay_redis_url",
                self.dpop_replay_redis_url.is_some(),
            ),
        ];
        set.into_iter()
            .filter(|(_, s)| *s)
            .map(|(k, _)| k)
            .collect()
    }
}

/// Keys that hold for the whole application, not for one issuer: set in the section, never in
/// an entry of `issuers:`.
const SECTION_WIDE_KEYS: &[&str] = &[
    "enabled",
    "leeway_seconds",
    "max_token_bytes",
    "cache_max_entries",
    "cache_max_bytes",
    "token_header",
    "token_cookie",
    "token_query",
    "agent_require_typ",
    "agent_required_claims",
    "revocation_endpoint",
    "revocation_ttl_seconds",
    "revocation_fail_open",
    "revocation_bearer",
    "dpop",
    "dpop_algorithms",
    "dpop_proof_max_age_seconds",
    "dpop_origins",
    "dpop_replay_max_entries",
    "dpop_replay_fail_open",
    "dpop_replay_redis_url",
];

const SECTION_WIDE_IN_ENTRY: &str =
    "holds for the whole application: set it in auth_client itself, not in an entry of issuers";

impl AuthConfig {
    /// Takes the section-wide settings of `section`.
    fn adopt_section(&mut self, section: &AuthConfig) {
        self.enabled = section.enabled;
        self.leeway_seconds = section.leeway_seconds;
        self.max_token_bytes = section.max_token_bytes;
        self.cache_max_entries = section.cache_max_entries;
        self.cache_max_bytes = section.cache_max_bytes;
        self.token_sources = section.token_sources.clone();
        self.agent_require_typ = section.agent_require_typ.clone();
        self.agent_required_claims = section.agent_required_claims.clone();
        self.revocation_endpoint = section.revocation_endpoint.clone();
        self.revocation_ttl = section.revocation_ttl;
        self.revocation_fail_open = section.revocation_fail_open;
        self.revocation_bearer = section.revocation_bearer.clone();
        self.dpop = section.dpop.clone();
        // Revocation promised: every issuer's tokens need a `jti`.
        if self.revocation_endpoint.is_some() && !self.required_claims.iter().any(|c| c == "jti") {
            self.required_claims.push("jti".to_owned());
        }
    }
}

/// One configuration problem: the key it concerns and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    key: String,
    message: String,
}

impl ConfigProblem {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The full key path, e.g. `auth_client.audience`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.message)
    }
}

/// The configuration is invalid; [`problems`](Self::problems) lists every reason.
///
/// `Debug` writes the same readable list as `Display`, so that `fn main() -> Result<_, _>`
/// ending on a `?` prints the problems rather than a structure.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// Every problem, in key order of discovery.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid auth configuration ({} problem{}):",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ConfigError {}
