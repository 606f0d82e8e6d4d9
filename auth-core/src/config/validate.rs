//! `build()`: every rule, every problem at once.

use super::{AuthConfig, AuthConfigBuilder, ConfigError, ConfigProblem};
use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::claim_path::ClaimPath;
use std::path::PathBuf;
use std::time::Duration;

const DEFAULT_JWKS_TTL: u64 = 300;
const DEFAULT_COOLDOWN: u64 = 30;
const DEFAULT_MAX_STALE: u64 = 24 * 60 * 60;
const DEFAULT_HTTP_TIMEOUT: u64 = 5;
const DEFAULT_LEEWAY: u64 = 30;
const MAX_LEEWAY: u64 = 300;
const DEFAULT_MAX_TOKEN_BYTES: u64 = 8192;
const TOKEN_BYTES_RANGE: std::ops::RangeInclusive<u64> = 512..=65_536;
const DEFAULT_REVOCATION_TTL: u64 = 15;

/// The bounds of every duration, in seconds: documented in the README's limits table.
pub(crate) const JWKS_TTL_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;
pub(crate) const COOLDOWN_RANGE: std::ops::RangeInclusive<u64> = 1..=3_600;
pub(crate) const MAX_STALE_RANGE: std::ops::RangeInclusive<u64> = 0..=604_800;
pub(crate) const REVOCATION_TTL_RANGE: std::ops::RangeInclusive<u64> = 1..=3_600;
pub(crate) const HTTP_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=60;
const DEFAULT_CACHE_ENTRIES: u64 = 10_000;
const CACHE_ENTRIES_RANGE: std::ops::RangeInclusive<u64> = 0..=1_000_000;
const DEFAULT_CACHE_BYTES: u64 = 16 << 20;
const CACHE_BYTES_RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(1 << 30);

struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, key: &str, message: impl Into<String>) {
        self.0
            .push(ConfigProblem::new(format!("auth_client.{key}"), message));
    }
}

pub(super) fn build(mut b: AuthConfigBuilder) -> Result<AuthConfig, ConfigError> {
    let mut p = Problems(std::mem::take(&mut b.problems));
    let enabled = b.enabled.unwrap_or(true);

    let issuer = b
        .issuer
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if issuer.is_empty() {
        if enabled {
            p.add(
                "issuer",
                "must be set when auth is enabled (the exact `iss` of your tokens, e.g. `issuer: https://auth.example.com`)",
            );
        }
    } else if issuer.contains('{') && issuer.contains('}') {
        p.add(
            "issuer",
            format!(
                "{:?} is a template: tokens carry the real issuer, so it can never match. Entra ID multi-tenant issuers (`{{tenantid}}`) are not supported yet; write one tenant's issuer",
                quoted(&issuer)
            ),
        );
    } else if !issuer.contains("://") && b.jwks_endpoint.is_none() && b.jwks_file.is_none() {
        // `accounts.google.com` (Google issues it beside the https form) can be matched, but
        // nothing can be discovered from it.
        p.add(
            "issuer",
            format!(
                "{:?} has no scheme: discovery needs an https URL. For an issuer written without one (Google's `accounts.google.com`), set auth_client.jwks_endpoint too",
                quoted(&issuer)
            ),
        );
    } else if issuer.contains("://") {
        check_url(&mut p, "issuer", &issuer);
    }

    let audiences: Vec<String> = b
        .audiences
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.trim().to_owned())
        .collect();
    if audiences.iter().any(String::is_empty) {
        p.add("audience", "must not contain an empty entry");
    }
    let audiences: Vec<String> = audiences.into_iter().filter(|a| !a.is_empty()).collect();
    let mut client_ids = Vec::new();
    claim_names(&mut p, "client_ids", b.client_ids.clone(), &mut client_ids);
    // Never a configuration without an audience or client rule: that would accept any
    // token the issuer ever signed, for any application.
    if audiences.is_empty() && client_ids.is_empty() && enabled {
        p.add(
            "audience",
            "must be set when auth is enabled (the API identifier your issuer puts in `aud`, e.g. `audience: my-api`; for tokens without `aud`, such as Cognito access tokens, set `client_ids` instead)",
        );
    }
    let mut client_id_claims = Vec::new();
    claim_names(
        &mut p,
        "client_id_claims",
        b.client_id_claims.clone().or_else(|| {
            Some(
                ["client_id", "azp", "cid", "appid"]
                    .map(String::from)
                    .to_vec(),
            )
        }),
        &mut client_id_claims,
    );
    if client_id_claims.is_empty() && !client_ids.is_empty() {
        p.add(
            "client_id_claims",
            "must name at least one claim when client_ids is set",
        );
    }
    let mut required_claim_values = Vec::new();
    for (name, value) in b.required_claim_values.clone().unwrap_or_default() {
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        if name.is_empty() || value.is_empty() {
            p.add(
                "required_claim_values",
                "needs a claim name and a value for each entry, e.g. {token_use: access}",
            );
        } else {
            required_claim_values.push((name, value));
        }
    }

    if let Some(url) = &b.jwks_endpoint {
        check_url(&mut p, "jwks_endpoint", &url.0);
    }
    if let Some(url) = &b.revocation_endpoint {
        check_url(&mut p, "revocation_endpoint", &url.0);
    }
    if b.jwks_endpoint.is_some() && b.jwks_file.is_some() {
        p.add(
            "jwks_file",
            "cannot be combined with auth_client.jwks_endpoint: keep the one your keys come from",
        );
    }

    let algorithms = check_algorithms(&mut p, &b);

    let bounded = |p: &mut Problems,
                   key: &str,
                   value: Option<u64>,
                   default: u64,
                   range: std::ops::RangeInclusive<u64>| {
        let v = value.unwrap_or(default);
        if !range.contains(&v) {
            p.add(
                key,
                format!("must be between {} and {}", range.start(), range.end()),
            );
        }
        Duration::from_secs(v.clamp(*range.start(), *range.end()))
    };
    let jwks_ttl = bounded(
        &mut p,
        "jwks_ttl_seconds",
        b.jwks_ttl_seconds,
        DEFAULT_JWKS_TTL,
        JWKS_TTL_RANGE,
    );
    let jwks_refresh_cooldown = bounded(
        &mut p,
        "jwks_refresh_cooldown_seconds",
        b.jwks_refresh_cooldown_seconds,
        DEFAULT_COOLDOWN,
        COOLDOWN_RANGE,
    );
    let revocation_ttl = bounded(
        &mut p,
        "revocation_ttl_seconds",
        b.revocation_ttl_seconds,
        DEFAULT_REVOCATION_TTL,
        REVOCATION_TTL_RANGE,
    );
    let http_timeout = bounded(
        &mut p,
        "http_timeout_seconds",
        b.http_timeout_seconds,
        DEFAULT_HTTP_TIMEOUT,
        HTTP_TIMEOUT_RANGE,
    );
    let jwks_max_stale = bounded(
        &mut p,
        "jwks_max_stale_seconds",
        b.jwks_max_stale_seconds,
        DEFAULT_MAX_STALE,
        MAX_STALE_RANGE,
    );

    let leeway_seconds = b.leeway_seconds.unwrap_or(DEFAULT_LEEWAY);
    if leeway_seconds > MAX_LEEWAY {
        p.add(
            "leeway_seconds",
            format!("must be at most {MAX_LEEWAY} (clock skew, not a token lifetime extension)"),
        );
    }
    let dpop = dpop_settings(&mut p, &b, leeway_seconds);
    let takes_dpop = dpop.mode != crate::dpop::DpopMode::Off;

    let in_range = |p: &mut Problems,
                    key: &str,
                    value: Option<u64>,
                    default: u64,
                    range: std::ops::RangeInclusive<u64>,
                    note: &str| {
        let v = value.unwrap_or(default);
        if !range.contains(&v) {
            p.add(
                key,
                format!(
                    "must be between {} and {}{note}",
                    range.start(),
                    range.end()
                ),
            );
        }
        v
    };
    let max_token_bytes = in_range(
        &mut p,
        "max_token_bytes",
        b.max_token_bytes,
        DEFAULT_MAX_TOKEN_BYTES,
        TOKEN_BYTES_RANGE,
        "",
    );
    let cache_max_entries = in_range(
        &mut p,
        "cache_max_entries",
        b.cache_max_entries,
        DEFAULT_CACHE_ENTRIES,
        CACHE_ENTRIES_RANGE,
        " (0 turns the cache off)",
    );
    let cache_max_bytes = in_range(
        &mut p,
        "cache_max_bytes",
        b.cache_max_bytes,
        DEFAULT_CACHE_BYTES,
        CACHE_BYTES_RANGE,
        "",
    );

    let role_claims = claim_paths(&mut p, "role_claims", b.role_claims, &["roles", "role"]);
    let group_claims = claim_paths(&mut p, "group_claims", b.group_claims, &["groups"]);
    let scope_claims = claim_paths(&mut p, "scope_claims", b.scope_claims, &["scope", "scp"]);

    let mut required_claims = vec!["exp".to_owned()];
    claim_names(
        &mut p,
        "required_claims",
        b.required_claims,
        &mut required_claims,
    );

    // A token without `jti` cannot be revoked: where revocation is promised, require it.
    if b.revocation_endpoint.is_some() && !required_claims.iter().any(|c| c == "jti") {
        required_claims.push("jti".to_owned());
    }

    let mut token_sources = token_sources(&mut p, b.token_header, b.token_cookie, b.token_query);
    // What a request is read for: a DPoP proof's parts only where DPoP is taken.
    token_sources.dpop = takes_dpop;

    let require_typ = b.require_typ.map(|t| t.trim().to_owned());
    if require_typ.as_deref() == Some("") {
        p.add(
            "require_typ",
            "must not be empty; remove the key to accept any `typ`",
        );
    }

    let agent_require_typ = b.agent_require_typ.map(|t| t.trim().to_owned());
    if agent_require_typ.as_deref() == Some("") {
        p.add(
            "agent_require_typ",
            "must not be empty; remove the key to accept any `typ` on agent tokens",
        );
    }
    if let (Some(agent), Some(caller)) = (&agent_require_typ, &require_typ) {
        if crate::authenticator::typ_matches(agent, caller) {
            p.add(
                "agent_require_typ",
                "must differ from require_typ: the point is to tell agent tokens from callers' tokens",
            );
        }
    }
    let mut agent_required_claims = Vec::new();
    claim_names(
        &mut p,
        "agent_required_claims",
        b.agent_required_claims,
        &mut agent_required_claims,
    );

    if !p.0.is_empty() {
        return Err(ConfigError { problems: p.0 });
    }
    Ok(AuthConfig {
        dpop,
        enabled,
        issuer,
        audiences,
        jwks_endpoint: b.jwks_endpoint,
        jwks_file: b.jwks_file.map(PathBuf::from),
        jwks_ttl,
        jwks_refresh_cooldown,
        jwks_max_stale,
        http_timeout,
        algorithms,
        leeway_seconds,
        role_claims,
        group_claims,
        scope_claims,
        required_claims,
        require_typ,
        agent_require_typ,
        token_sources,
        agent_required_claims,
        client_ids,
        client_id_claims,
        required_claim_values,
        others: Vec::new(),
        max_token_bytes: usize::try_from(max_token_bytes).unwrap_or(usize::MAX),
        cache_max_entries: usize::try_from(cache_max_entries).unwrap_or(usize::MAX),
        cache_max_bytes,
        shared_secret: b.shared_secret,
        revocation_endpoint: b.revocation_endpoint,
        revocation_ttl,
        revocation_fail_open: b.revocation_fail_open.unwrap_or(false),
        revocation_bearer: b.revocation_bearer,
    })
}

const DEFAULT_DPOP_MAX_AGE: u64 = 60;
const DPOP_MAX_AGE_RANGE: std::ops::RangeInclusive<u64> = 1..=600;
const DEFAULT_DPOP_REPLAY_ENTRIES: u64 = 250_000;
const DPOP_REPLAY_ENTRIES_RANGE: std::ops::RangeInclusive<u64> = 1..=10_000_000;

/// `dpop` and the `dpop_*` keys.
fn dpop_settings(
    p: &mut Problems,
    b: &AuthConfigBuilder,
    leeway_seconds: u64,
) -> super::DpopSettings {
    use crate::dpop::{DpopMode, ProofPolicy, DEFAULT_ALGORITHMS};
    let mode = match b.dpop.as_deref().map(|m| m.trim().to_ascii_lowercase()) {
        None => DpopMode::Off,
        Some(m) => match m.as_str() {
            "off" | "false" => DpopMode::Off,
            "allowed" => DpopMode::Allowed,
            "required" => DpopMode::Required,
            _ => {
                p.add("dpop", "must be off, allowed or required");
                DpopMode::Off
            }
        },
    };
    let algorithms = match &b.dpop_algorithms {
        None => DEFAULT_ALGORITHMS.into_iter().collect(),
        Some(names) => {
            let mut set = AlgorithmSet::empty();
            for (i, name) in names.iter().enumerate() {
                let key = format!("dpop_algorithms[{i}]");
                match name.trim().parse::<Algorithm>() {
                    Ok(alg) if alg.key_family() == crate::algorithm::KeyFamily::Symmetric => p.add(
                        &key,
                        format!("{alg} is never accepted for a DPoP proof: the proof is signed with the client's private key, and a shared secret proves nothing"),
                    ),
                    Ok(alg) if !alg.is_supported() => p.add(
                        &key,
                        format!("{alg} needs portcullis-core's `ml-dsa` feature"),
                    ),
                    Ok(alg) => set.insert(alg),
                    Err(_) => p.add(
                        &key,
                        format!(
                            "{:?} is not a supported algorithm; use one of {}",
                            quoted(name),
                            DEFAULT_ALGORITHMS.map(Algorithm::as_str).join(", ")
                        ),
                    ),
                }
            }
            if names.is_empty() {
                p.add(
                    "dpop_algorithms",
                    "must list at least one algorithm, e.g. [\"ES256\"]",
                );
            }
            set
        }
    };
    let max_age = b.dpop_proof_max_age_seconds.unwrap_or(DEFAULT_DPOP_MAX_AGE);
    if !DPOP_MAX_AGE_RANGE.contains(&max_age) {
        p.add(
            "dpop_proof_max_age_seconds",
            format!(
                "must be between {} and {}",
                DPOP_MAX_AGE_RANGE.start(),
                DPOP_MAX_AGE_RANGE.end()
            ),
        );
    }
    let mut origins = Vec::new();
    for (i, origin) in b.dpop_origins.iter().flatten().enumerate() {
        let key = format!("dpop_origins[{i}]");
        match url::Url::parse(origin.trim()) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some()
                    && url.username().is_empty()
                    && url.password().is_none()
                    && url.path() == "/"
                    && url.query().is_none()
                    && url.fragment().is_none() =>
            {
                origins.push(url.origin().ascii_serialization());
            }
            _ => p.add(
                &key,
                "must be an origin as clients write it in a proof's htu: scheme, host and port only, e.g. \"https://api.example.com\"",
            ),
        }
    }
    let replay_max_entries = b
        .dpop_replay_max_entries
        .unwrap_or(DEFAULT_DPOP_REPLAY_ENTRIES);
    if !DPOP_REPLAY_ENTRIES_RANGE.contains(&replay_max_entries) {
        p.add(
            "dpop_replay_max_entries",
            format!(
                "must be between {} and {}",
                DPOP_REPLAY_ENTRIES_RANGE.start(),
                DPOP_REPLAY_ENTRIES_RANGE.end()
            ),
        );
    }
    if let Some(url) = &b.dpop_replay_redis_url {
        let scheme_ok = ["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|s| url.expose().trim().starts_with(s));
        if !scheme_ok {
            p.add(
                "dpop_replay_redis_url",
                "must be a redis:// or rediss:// URL",
            );
        } else if !cfg!(feature = "redis") {
            p.add(
                "dpop_replay_redis_url",
                "needs portcullis-core's `redis` feature",
            );
        }
    }
    super::DpopSettings {
        mode,
        policy: ProofPolicy {
            algorithms,
            max_age_seconds: max_age.clamp(*DPOP_MAX_AGE_RANGE.start(), *DPOP_MAX_AGE_RANGE.end()),
            leeway_seconds,
            origins,
        },
        replay_max_entries: usize::try_from(replay_max_entries).unwrap_or(usize::MAX),
        replay_fail_open: b.dpop_replay_fail_open.unwrap_or(false),
        replay_redis_url: b.dpop_replay_redis_url.clone(),
    }
}

fn check_algorithms(p: &mut Problems, b: &AuthConfigBuilder) -> AlgorithmSet {
    let names = b
        .accepted_algorithms
        .clone()
        .unwrap_or_else(|| vec!["RS256".to_owned()]);
    if names.is_empty() {
        p.add(
            "accepted_algorithms",
            "must list at least one algorithm, e.g. [\"RS256\"]",
        );
    }
    let mut set = AlgorithmSet::empty();
    for (i, name) in names.iter().enumerate() {
        let key = format!("accepted_algorithms[{i}]");
        if name.trim().eq_ignore_ascii_case("none") {
            p.add(
                &key,
                "\"none\" is never accepted: unsigned tokens prove nothing",
            );
            continue;
        }
        match name.trim().parse::<Algorithm>() {
            Ok(alg) if !alg.is_supported() => p.add(
                &key,
                format!("{alg} needs portcullis-core's `ml-dsa` feature (post-quantum signatures)"),
            ),
            Ok(alg) => set.insert(alg),
            Err(_) => p.add(
                &key,
                format!(
                    "{:?} is not a supported algorithm; use one of {}",
                    quoted(name),
                    Algorithm::ALL.map(Algorithm::as_str).join(", ")
                ),
            ),
        }
    }

    let symmetric: Vec<&str> = set
        .iter()
        .filter(|a| a.is_symmetric())
        .map(Algorithm::as_str)
        .collect();
    let asymmetric: Vec<&str> = set
        .iter()
        .filter(|a| !a.is_symmetric())
        .map(Algorithm::as_str)
        .collect();
    if !symmetric.is_empty() && !asymmetric.is_empty() {
        p.add(
            "accepted_algorithms",
            format!(
                "mixes shared-secret ({}) and public-key ({}) algorithms; accept one kind only",
                symmetric.join(", "),
                asymmetric.join(", ")
            ),
        );
    }
    match (&b.shared_secret, symmetric.is_empty()) {
        (None, false) => p.add(
            "shared_secret",
            format!(
                "must be set to use {} (an HMAC secret of at least the hash size)",
                symmetric.join(", ")
            ),
        ),
        (Some(_), true) => p.add(
            "shared_secret",
            "is set but accepted_algorithms has no HS256/HS384/HS512: remove it or accept an HS algorithm",
        ),
        (Some(secret), false) => {
            for alg in set.iter().filter(|a| a.is_symmetric()) {
                let min = alg.min_secret_len().unwrap_or(32);
                if secret.expose().len() < min {
                    p.add(
                        "shared_secret",
                        format!("must be at least {min} bytes for {alg} (RFC 7518 §3.2)"),
                    );
                }
            }
            if b.jwks_endpoint.is_some() || b.jwks_file.is_some() {
                p.add(
                    "shared_secret",
                    "cannot be combined with a key set (jwks_endpoint / jwks_file): use one kind of key",
                );
            }
        }
        (None, true) => {}
    }
    set
}

fn claim_paths(
    p: &mut Problems,
    key: &str,
    given: Option<Vec<String>>,
    default: &[&str],
) -> Vec<ClaimPath> {
    let given = given.unwrap_or_else(|| default.iter().map(|s| (*s).to_owned()).collect());
    let mut out = Vec::with_capacity(given.len());
    for (i, raw) in given.iter().enumerate() {
        match ClaimPath::new(raw) {
            Ok(path) => out.push(path),
            Err(e) => p.add(
                &format!("{key}[{i}]"),
                format!("{:?} is invalid: {e}", quoted(raw)),
            ),
        }
    }
    out
}

/// Absolute `https` URL, or `http` on a loopback host (pico-client-auth's rule).
fn check_url(p: &mut Problems, key: &str, raw: &str) {
    // Messages show the URL without its query string: it may carry a token.
    let shown = super::redact_url(raw);
    let Ok(url) = url::Url::parse(raw) else {
        p.add(key, format!("must be an absolute URL, got {shown:?}"));
        return;
    };
    if !url.username().is_empty() || url.password().is_some() {
        p.add(key, "must not carry credentials in the URL");
        return;
    }
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if is_loopback(&url) => {}
        "http" => p.add(
            key,
            format!(
                "must use https (plain http is allowed only for localhost, 127.0.0.1 or ::1), got {shown:?}"
            ),
        ),
        _ => p.add(key, format!("must be an absolute https URL, got {shown:?}")),
    }
}

/// Whether the URL's host is loopback: `localhost`, `127.0.0.0/8` or `::1`.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A value quoted in a message, at most 40 characters: a misplaced token or secret is not
/// repeated whole.
fn quoted(value: &str) -> String {
    if value.chars().count() > 40 {
        format!("{}…", value.chars().take(40).collect::<String>())
    } else {
        value.to_owned()
    }
}

/// Claim names from the configuration into `into`: trimmed, not empty, each once.
fn claim_names(p: &mut Problems, key: &str, names: Option<Vec<String>>, into: &mut Vec<String>) {
    for (i, name) in names.unwrap_or_default().into_iter().enumerate() {
        let name = name.trim().to_owned();
        if name.is_empty() {
            p.add(&format!("{key}[{i}]"), "must be a claim name, not empty");
        } else if !into.contains(&name) {
            into.push(name);
        }
    }
}

/// `token_header`, `token_cookie` and `token_query`: names as HTTP writes them, and never one
/// of the headers portcullis already reads.
fn token_sources(
    p: &mut Problems,
    header: Option<String>,
    cookie: Option<String>,
    query: Option<String>,
) -> crate::jws::TokenSources {
    // RFC 9110 `token` (header and cookie names); query names: RFC 3986 unreserved.
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    let mut check = |key: &str, value: Option<String>, ok: &dyn Fn(char) -> bool| {
        let value = value?.trim().to_owned();
        if value.is_empty() || !value.chars().all(ok) {
            p.add(key, "must be a plain name (letters, digits and - . _ ~)");
            return None;
        }
        Some(value)
    };
    let header = check("token_header", header, &tchar).map(|h| h.to_ascii_lowercase());
    let cookie = check("token_cookie", cookie, &tchar);
    let query = check("token_query", query, &unreserved);
    if let Some(h) = &header {
        if [
            "authorization",
            crate::agent::AGENT_AUTHORIZATION,
            "cookie",
            "host",
        ]
        .contains(&h.as_str())
        {
            p.add(
                "token_header",
                "must not be a header with another meaning (Authorization is always read; \
                 X-Agent-Authorization carries agent tokens)",
            );
        }
    }
    crate::jws::TokenSources {
        dpop: false,
        header,
        cookie,
        query,
    }
}
