//! Reading the `auth_client` section from YAML and `AUTH_CLIENT__*` variables from the
//! environment into an [`AuthConfigBuilder`]. Type errors and unknown keys become problems
//! reported by `build()`, never panics or silent drops.
//!
//! YAML is parsed with `serde-saphyr`: maintained, built on the pure-Rust `saphyr` parser,
//! panic-free on hostile input and with limits against alias ("billion laughs") expansion;
//! `serde_yaml` is deprecated and unmaintained.

use super::{AuthConfigBuilder, ConfigProblem, Secret};
use serde_json::Value;
use std::path::PathBuf;

/// Prefix of environment overrides: `AUTH_CLIENT__ISSUER`, `AUTH_CLIENT__AUDIENCE`, ...
pub const ENV_PREFIX: &str = "AUTH_CLIENT__";

const SECTION: &str = "auth_client";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Seconds,
    Str,
    List,
    /// A mapping of claim names to required values.
    Map,
    /// A list of issuer mappings (`issuers:`).
    Issuers,
}

/// Every key of the `auth_client` section and its type.
const KEYS: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("issuer", Kind::Str),
    ("audience", Kind::List),
    ("jwks_endpoint", Kind::Str),
    ("jwks_file", Kind::Str),
    ("jwks_ttl_seconds", Kind::Seconds),
    ("jwks_refresh_cooldown_seconds", Kind::Seconds),
    ("jwks_max_stale_seconds", Kind::Seconds),
    ("http_timeout_seconds", Kind::Seconds),
    ("accepted_algorithms", Kind::List),
    ("leeway_seconds", Kind::Seconds),
    ("role_claims", Kind::List),
    ("group_claims", Kind::List),
    ("scope_claims", Kind::List),
    ("required_claims", Kind::List),
    ("require_typ", Kind::Str),
    ("agent_require_typ", Kind::Str),
    ("agent_required_claims", Kind::List),
    ("max_token_bytes", Kind::Seconds),
    ("cache_max_entries", Kind::Seconds),
    ("cache_max_bytes", Kind::Seconds),
    ("shared_secret", Kind::Str),
    ("revocation_endpoint", Kind::Str),
    ("revocation_ttl_seconds", Kind::Seconds),
    ("revocation_fail_open", Kind::Bool),
    ("revocation_bearer", Kind::Str),
    ("token_header", Kind::Str),
    ("issuers", Kind::Issuers),
    ("client_ids", Kind::List),
    ("client_id_claims", Kind::List),
    ("required_claim_values", Kind::Map),
    ("token_cookie", Kind::Str),
    ("token_query", Kind::Str),
    ("dpop", Kind::Str),
    ("dpop_algorithms", Kind::List),
    ("dpop_proof_max_age_seconds", Kind::Seconds),
    ("dpop_origins", Kind::List),
    ("dpop_replay_max_entries", Kind::Seconds),
    ("dpop_replay_fail_open", Kind::Bool),
    ("dpop_replay_redis_url", Kind::Str),
];

/// The largest configuration document read (a real one is a few hundred bytes).
pub(crate) const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Reads at most `limit` bytes of a file (a FIFO or `/dev/zero` included): `None` when there
/// is more.
pub(crate) fn read_bounded(
    path: &std::path::Path,
    limit: usize,
) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_string(&mut text)?;
    Ok((text.len() <= limit).then_some(text))
}

/// Keys whose values must never appear in a message.
const SECRET_KEYS: &[&str] = &[
    "shared_secret",
    "revocation_bearer",
    "dpop_replay_redis_url",
];

impl AuthConfigBuilder {
    /// Reads the `auth_client` section of a YAML document; other sections are ignored.
    pub fn yaml_str(mut self, yaml: &str) -> Self {
        if yaml.len() > MAX_DOCUMENT_BYTES {
            self.problems.push(ConfigProblem::new(
                "(document)",
                format!("is larger than {MAX_DOCUMENT_BYTES} bytes"),
            ));
            return self;
        }
        match parse_yaml(yaml) {
            Ok(Value::Null) => {}
            Ok(Value::Object(mut root)) => match root.remove(SECTION) {
                None | Some(Value::Null) => {}
                Some(Value::Object(section)) => {
                    for (key, value) in section {
                        self.apply(&key, value);
                    }
                }
                Some(_) => self.problems.push(ConfigProblem::new(
                    SECTION,
                    "must be a mapping of keys (issuer, audience, ...)",
                )),
            },
            Ok(_) => self.problems.push(ConfigProblem::new(
                "(document)",
                "must be a YAML mapping with an `auth_client` section",
            )),
            Err(e) => self.problems.push(ConfigProblem::new(
                "(document)",
                format!("is not valid YAML: {}", first_line(&e.to_string())),
            )),
        }
        self
    }

    /// Reads the `auth_client` section of a YAML file (see [`yaml_str`](Self::yaml_str)).
    pub fn yaml_file(self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        match read_bounded(&path, MAX_DOCUMENT_BYTES) {
            Ok(Some(text)) => self.yaml_str(&text),
            Ok(None) => {
                let mut me = self;
                me.problems.push(ConfigProblem::new(
                    path.display().to_string(),
                    format!("is larger than {MAX_DOCUMENT_BYTES} bytes"),
                ));
                me
            }
            Err(e) => {
                let mut me = self;
                me.problems.push(ConfigProblem::new(
                    path.display().to_string(),
                    format!("cannot be read: {e}"),
                ));
                me
            }
        }
    }

    /// Reads `AUTH_CLIENT__*` variables from the process environment (they win over
    /// anything set before). Lists are comma-separated (`RS256,ES256`) or a YAML flow list.
    pub fn env(self) -> Self {
        self.env_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Same as [`env`](Self::env), from the given pairs (for tests and custom sources).
    pub fn env_vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (name, value) in vars {
            let Some(key) = name.as_ref().strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            let value = value.as_ref();
            let parsed = match kind_of(&key) {
                Some(Kind::Bool) => match value.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => Value::Bool(true),
                    "false" | "0" | "no" | "off" => Value::Bool(false),
                    _ => Value::String(value.to_owned()),
                },
                Some(Kind::Seconds) => value
                    .trim()
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(value.to_owned())),
                Some(Kind::List) => env_list(value),
                // `name=value,name=value`.
                Some(Kind::Map) => Value::Object(
                    value
                        .split(',')
                        .filter_map(|pair| pair.split_once('='))
                        .map(|(k, v)| (k.trim().to_owned(), Value::String(v.trim().to_owned())))
                        .collect(),
                ),
                Some(Kind::Str | Kind::Issuers) | None => Value::String(value.to_owned()),
            };
            self.apply_from(
                &key,
                parsed,
                &format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
            );
        }
        self
    }

    fn apply(&mut self, key: &str, value: Value) {
        self.apply_from(key, value, &format!("{SECTION}.{key}"));
    }

    /// Sets one key; `label` is how the key is named in a problem.
    pub(super) fn apply_from(&mut self, key: &str, value: Value, label: &str) {
        let Some(kind) = kind_of(key) else {
            let hint = suggestion(key)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| format!("; known keys: {}", known_keys()));
            self.problems.push(ConfigProblem::new(
                label,
                format!("is not a known key{hint}"),
            ));
            return;
        };
        let shown = if SECRET_KEYS.contains(&key) {
            "<redacted>".to_owned()
        } else {
            truncate(&value.to_string())
        };
        let bad =
            |expected: &str| ConfigProblem::new(label, format!("must be {expected}, got {shown}"));
        match kind {
            Kind::Bool => match value {
                Value::Bool(b) => match key {
                    "enabled" => self.enabled = Some(b),
                    "dpop_replay_fail_open" => self.dpop_replay_fail_open = Some(b),
                    _ => self.revocation_fail_open = Some(b),
                },
                _ => {
                    let p = bad("true or false");
                    self.problems.push(p);
                }
            },
            Kind::Seconds => match value.as_u64() {
                Some(n) => {
                    let slot = match key {
                        "jwks_ttl_seconds" => &mut self.jwks_ttl_seconds,
                        "jwks_refresh_cooldown_seconds" => &mut self.jwks_refresh_cooldown_seconds,
                        "jwks_max_stale_seconds" => &mut self.jwks_max_stale_seconds,
                        "http_timeout_seconds" => &mut self.http_timeout_seconds,
                        "leeway_seconds" => &mut self.leeway_seconds,
                        "max_token_bytes" => &mut self.max_token_bytes,
                        "cache_max_entries" => &mut self.cache_max_entries,
                        "cache_max_bytes" => &mut self.cache_max_bytes,
                        "dpop_proof_max_age_seconds" => &mut self.dpop_proof_max_age_seconds,
                        "dpop_replay_max_entries" => &mut self.dpop_replay_max_entries,
                        _ => &mut self.revocation_ttl_seconds,
                    };
                    *slot = Some(n);
                }
                None => {
                    let p = bad("a non-negative whole number");
                    self.problems.push(p);
                }
            },
            Kind::Str => match scalar_string(value) {
                // An empty string means "not set", as in pico-client-auth.
                Some(s) if s.is_empty() => {}
                Some(s) => match key {
                    "issuer" => self.issuer = Some(s),
                    "jwks_endpoint" => self.jwks_endpoint = Some(super::Endpoint(s)),
                    "jwks_file" => self.jwks_file = Some(s),
                    "require_typ" => self.require_typ = Some(s),
                    "token_header" => self.token_header = Some(s),
                    "token_cookie" => self.token_cookie = Some(s),
                    "token_query" => self.token_query = Some(s),
                    "agent_require_typ" => self.agent_require_typ = Some(s),
                    "shared_secret" => self.shared_secret = Some(Secret::new(s)),
                    "revocation_endpoint" => self.revocation_endpoint = Some(super::Endpoint(s)),
                    "dpop" => self.dpop = Some(s),
                    "dpop_replay_redis_url" => self.dpop_replay_redis_url = Some(Secret::new(s)),
                    _ => self.revocation_bearer = Some(Secret::new(s)),
                },
                None => {
                    let p = bad("a string");
                    self.problems.push(p);
                }
            },
            Kind::Map => match value {
                Value::Object(map) => {
                    let mut pairs = Vec::new();
                    for (name, v) in map {
                        match scalar_string(v) {
                            Some(v) => pairs.push((name.trim().to_owned(), v)),
                            None => {
                                let p = bad("a mapping of claim names to strings");
                                self.problems.push(p);
                                return;
                            }
                        }
                    }
                    self.required_claim_values = Some(pairs);
                }
                _ => {
                    let p = bad("a mapping of claim names to strings, e.g. {token_use: access}");
                    self.problems.push(p);
                }
            },
            Kind::Issuers => match value {
                Value::Array(items) => {
                    let mut entries = Vec::new();
                    for (i, item) in items.into_iter().enumerate() {
                        let Value::Object(map) = item else {
                            self.problems.push(ConfigProblem::new(
                                format!("{label}[{i}]"),
                                "must be a mapping (issuer, audience, ...)",
                            ));
                            continue;
                        };
                        let mut pairs = Vec::new();
                        for (k, v) in map {
                            if k == "issuers" {
                                self.problems.push(ConfigProblem::new(
                                    format!("{label}[{i}].issuers"),
                                    "cannot be nested",
                                ));
                                continue;
                            }
                            pairs.push((k, v));
                        }
                        entries.push(super::IssuerEntry::Keys(pairs));
                    }
                    self.issuers = Some(entries);
                }
                _ => {
                    let p = bad("a list of issuer mappings (set it in the YAML file)");
                    self.problems.push(p);
                }
            },
            Kind::List => {
                let list = match value {
                    Value::Array(items) => items.into_iter().map(scalar_string).collect(),
                    other => scalar_string(other).map(|s| vec![s]),
                };
                match list {
                    Some(list) => {
                        let slot = match key {
                            "audience" => &mut self.audiences,
                            "accepted_algorithms" => &mut self.accepted_algorithms,
                            "role_claims" => &mut self.role_claims,
                            "group_claims" => &mut self.group_claims,
                            "scope_claims" => &mut self.scope_claims,
                            "agent_required_claims" => &mut self.agent_required_claims,
                            "client_ids" => &mut self.client_ids,
                            "client_id_claims" => &mut self.client_id_claims,
                            "dpop_algorithms" => &mut self.dpop_algorithms,
                            "dpop_origins" => &mut self.dpop_origins,
                            _ => &mut self.required_claims,
                        };
                        *slot = Some(list);
                    }
                    None => {
                        let p = bad("a string or a list of strings");
                        self.problems.push(p);
                    }
                }
            }
        }
    }
}

/// YAML 1.2 booleans only (`audience: no` stays the string "no"), duplicate keys refused,
/// and a budget far above any real configuration file and far below what a hostile one
/// (an alias bomb, deep nesting, a flood of nodes) needs to cost time or memory: such a
/// document is refused in milliseconds.
fn parse_yaml(text: &str) -> Result<Value, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(
        text,
        serde_saphyr::options! {
            strict_booleans: true,
            budget: serde_saphyr::budget! {
                max_events: 100_000,
                max_aliases: 1_000,
                max_anchors: 1_000,
                max_nodes: 50_000,
                max_depth: 32,
                max_documents: 1,
                max_total_scalar_bytes: 1 << 20,
                max_recorded_anchor_events: 10_000,
                max_recorded_anchor_bytes: 1 << 20,
                max_merge_keys: 1_000,
            },
            alias_limits: serde_saphyr::alias_limits! {
                max_total_replayed_events: 10_000,
                max_replay_stack_depth: 16,
                max_alias_expansions_per_anchor: 100,
            },
        },
    )
}

fn kind_of(key: &str) -> Option<Kind> {
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, kind)| *kind)
}

fn known_keys() -> String {
    KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// Strings, numbers and booleans as text (YAML `audience: 12345` is a number).
fn scalar_string(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn env_list(value: &str) -> Value {
    let trimmed = value.trim();
    if trimmed.starts_with('[') {
        if let Ok(v @ Value::Array(_)) = parse_yaml(trimmed) {
            return v;
        }
    }
    Value::Array(
        trimmed
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.to_owned()))
            .collect(),
    )
}

/// The closest known key, if it is a plausible typo (edit distance at most 2).
fn suggestion(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|(k, _)| (*k, edit_distance(key, k)))
        .filter(|(_, d)| *d <= 2)
        .min_by_key(|(_, d)| *d)
        .map(|(k, _)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn first_line(s: &str) -> String {
    truncate(s.lines().next().unwrap_or(""))
}

fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}
