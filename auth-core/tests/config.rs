//! Configuration: sources, precedence, defaults and every validation rule with its message.

use portcullis_core::{Algorithm, AuthConfig, AuthConfigBuilder, ConfigError};
use std::time::Duration;

fn problems(b: AuthConfigBuilder) -> Vec<String> {
    match b.build() {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.problems().iter().map(ToString::to_string).collect(),
    }
}

fn valid() -> AuthConfigBuilder {
    AuthConfig::builder()
        .issuer("https://auth.example.com")
        .audience("my-api")
}

#[test]
fn tutorial_yaml_loads_with_defaults() {
    let yaml = "fastapi:\n  title: Protected API\n  version: 1.0.0\nauth_client:\n  issuer: https://auth.example.com\n  audience: my-api\n";
    let c = AuthConfig::builder().yaml_str(yaml).build().unwrap();
    assert!(c.enabled());
    assert_eq!(c.issuer(), "https://auth.example.com");
    assert_eq!(c.audiences(), ["my-api"]);
    assert_eq!(c.jwks_endpoint(), None, "unset means OIDC discovery");
    assert_eq!(c.jwks_ttl(), Duration::from_secs(300));
    assert_eq!(c.jwks_refresh_cooldown(), Duration::from_secs(30));
    assert_eq!(c.jwks_max_stale(), Duration::from_secs(86_400));
    assert_eq!(c.http_timeout(), Duration::from_secs(5));
    assert_eq!(
        c.algorithms().iter().collect::<Vec<_>>(),
        [Algorithm::RS256]
    );
    assert_eq!(c.leeway_seconds(), 30);
    let paths = |p: &[portcullis_core::ClaimPath]| {
        p.iter().map(|p| p.as_str().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(paths(c.role_claims()), ["roles", "role"]);
    assert_eq!(paths(c.group_claims()), ["groups"]);
    assert_eq!(paths(c.scope_claims()), ["scope", "scp"]);
    assert_eq!(c.required_claims(), ["exp"]);
    assert_eq!(c.require_typ(), None);
    assert_eq!(c.max_token_bytes(), 8192);
    assert_eq!(c.revocation_endpoint(), None);
    assert_eq!(c.revocation_ttl(), Duration::from_secs(15));
    assert!(!c.revocation_fail_open());
}

#[test]
fn every_key_is_read_from_yaml() {
    let yaml = r#"
auth_client:
  enabled: true
  issuer: https://auth.example.com
  audience: [a1, a2]
  jwks_endpoint: https://auth.example.com/api/v1/auth/jwks
  jwks_ttl_seconds: 60
  jwks_refresh_cooldown_seconds: 10
  jwks_max_stale_seconds: 3600
  http_timeout_seconds: 3
  accepted_algorithms: [RS256, ES256]
  leeway_seconds: 5
  role_claims: [realm_access.roles, resource_access.my-api.roles]
  group_claims: groups
  scope_claims: [scp]
  required_claims: [sub, jti]
  require_typ: at+jwt
  max_token_bytes: 4096
  revocation_endpoint: https://auth.example.com/api/v1/auth/revoked
  revocation_ttl_seconds: 20
  revocation_fail_open: true
  revocation_bearer: poll-token
"#;
    let c = AuthConfig::builder().yaml_str(yaml).build().unwrap();
    assert_eq!(c.audiences(), ["a1", "a2"]);
    assert_eq!(
        c.jwks_endpoint(),
        Some("https://auth.example.com/api/v1/auth/jwks")
    );
    assert_eq!(c.jwks_ttl(), Duration::from_secs(60));
    assert_eq!(c.jwks_refresh_cooldown(), Duration::from_secs(10));
    assert_eq!(c.jwks_max_stale(), Duration::from_secs(3600));
    assert_eq!(c.http_timeout(), Duration::from_secs(3));
    assert_eq!(
        c.algorithms().iter().collect::<Vec<_>>(),
        [Algorithm::RS256, Algorithm::ES256]
    );
    assert_eq!(c.leeway_seconds(), 5);
    assert_eq!(c.role_claims()[1].as_str(), "resource_access.my-api.roles");
    assert_eq!(c.group_claims()[0].as_str(), "groups");
    assert_eq!(c.required_claims(), ["exp", "sub", "jti"]);
    assert_eq!(c.require_typ(), Some("at+jwt"));
    assert_eq!(c.max_token_bytes(), 4096);
    assert_eq!(c.revocation_ttl(), Duration::from_secs(20));
    assert!(c.revocation_fail_open());
    assert_eq!(
        c.revocation_bearer().map(|s| s.expose()),
        Some("poll-token")
    );
}

#[test]
fn environment_wins_over_the_file() {
    let yaml = "auth_client:\n  issuer: https://file.example.com\n  audience: from-file\n";
    let c = AuthConfig::builder()
        .yaml_str(yaml)
        .env_vars([
            ("AUTH_CLIENT__ISSUER", "https://env.example.com"),
            ("AUTH_CLIENT__ACCEPTED_ALGORITHMS", "RS256, ES256"),
            ("AUTH_CLIENT__LEEWAY_SECONDS", "7"),
            ("AUTH_CLIENT__REVOCATION_FAIL_OPEN", "true"),
            ("UNRELATED", "ignored"),
        ])
        .build()
        .unwrap();
    assert_eq!(c.issuer(), "https://env.example.com");
    assert_eq!(c.audiences(), ["from-file"]);
    assert_eq!(c.algorithms().iter().count(), 2);
    assert_eq!(c.leeway_seconds(), 7);
    assert!(c.revocation_fail_open());
    let c = valid()
        .env_vars([("AUTH_CLIENT__AUDIENCE", "[x, y]")])
        .build()
        .unwrap();
    assert_eq!(c.audiences(), ["x", "y"]);
}

#[test]
fn load_reads_a_file_and_reports_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("portcullis-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("application.yaml");
    std::fs::write(
        &path,
        "auth_client:\n  issuer: https://auth.example.com\n  audience: my-api\n",
    )
    .unwrap();
    assert_eq!(
        AuthConfig::builder()
            .yaml_file(&path)
            .build()
            .unwrap()
            .audiences(),
        ["my-api"]
    );
    let missing = dir.join("nope.yaml");
    let p = problems(AuthConfig::builder().yaml_file(&missing));
    assert!(p[0].contains("nope.yaml cannot be read"), "{p:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn issuer_and_audience_are_required_when_enabled() {
    assert_eq!(
        problems(AuthConfig::builder()),
        [
            "auth_client.issuer must be set when auth is enabled (the exact `iss` of your tokens, e.g. `issuer: https://auth.example.com`)",
            "auth_client.audience must be set when auth is enabled (the API identifier your issuer puts in `aud`, e.g. `audience: my-api`; for tokens without `aud`, such as Cognito access tokens, set `client_ids` instead)",
        ]
    );
    assert_eq!(
        problems(valid().audiences(["a", " "])),
        ["auth_client.audience must not contain an empty entry"]
    );
}

#[test]
fn disabled_needs_nothing() {
    let c = AuthConfig::builder()
        .yaml_str("auth_client:\n  enabled: false\n")
        .build()
        .unwrap();
    assert!(!c.enabled());
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml =
        "auth_client:\n  audiance: my-api\n  leeway_seconds: soon\n  accepted_algorithms: []\n";
    let p = problems(AuthConfig::builder().yaml_str(yaml));
    assert_eq!(
        p,
        [
            "auth_client.audiance is not a known key; did you mean `audience`?",
            "auth_client.leeway_seconds must be a non-negative whole number, got \"soon\"",
            "auth_client.issuer must be set when auth is enabled (the exact `iss` of your tokens, e.g. `issuer: https://auth.example.com`)",
            "auth_client.audience must be set when auth is enabled (the API identifier your issuer puts in `aud`, e.g. `audience: my-api`; for tokens without `aud`, such as Cognito access tokens, set `client_ids` instead)",
            "auth_client.accepted_algorithms must list at least one algorithm, e.g. [\"RS256\"]",
        ]
    );
}

#[test]
fn unknown_keys_are_errors_in_yaml_and_environment() {
    let p = problems(valid().yaml_str("auth_client:\n  zzz_unheard_of: 1\n"));
    assert!(
        p[0].starts_with(
            "auth_client.zzz_unheard_of is not a known key; known keys: enabled, issuer"
        ),
        "{p:?}"
    );
    let p = problems(valid().env_vars([("AUTH_CLIENT__ISUER", "x")]));
    assert_eq!(
        p,
        ["AUTH_CLIENT__ISUER is not a known key; did you mean `issuer`?"]
    );
}

#[test]
fn wrong_types_are_reported() {
    let yaml = "auth_client:\n  enabled: maybe\n  audience: {a: 1}\n  issuer: [x]\n";
    assert_eq!(
        problems(AuthConfig::builder().yaml_str(yaml)),
        [
            "auth_client.enabled must be true or false, got \"maybe\"",
            "auth_client.audience must be a string or a list of strings, got {\"a\":1}",
            "auth_client.issuer must be a string, got [\"x\"]",
            "auth_client.issuer must be set when auth is enabled (the exact `iss` of your tokens, e.g. `issuer: https://auth.example.com`)",
            "auth_client.audience must be set when auth is enabled (the API identifier your issuer puts in `aud`, e.g. `audience: my-api`; for tokens without `aud`, such as Cognito access tokens, set `client_ids` instead)",
        ]
    );
    assert_eq!(
        problems(valid().env_vars([("AUTH_CLIENT__JWKS_TTL_SECONDS", "-1")])),
        ["AUTH_CLIENT__JWKS_TTL_SECONDS must be a non-negative whole number, got \"-1\""]
    );
}

#[test]
fn malformed_yaml_is_one_problem() {
    let p = problems(AuthConfig::builder().yaml_str("auth_client: [unclosed"));
    assert!(p[0].starts_with("(document) is not valid YAML"), "{p:?}");
    let p = problems(AuthConfig::builder().yaml_str("auth_client: 5"));
    assert_eq!(
        p[0],
        "auth_client must be a mapping of keys (issuer, audience, ...)"
    );
}

#[test]
fn urls_must_be_https_or_loopback_http() {
    for ok in [
        "https://auth.example.com",
        "http://localhost:8080",
        "http://127.0.0.1:9000/realms/x",
        "http://[::1]:9000",
    ] {
        assert!(
            valid()
                .issuer(ok)
                .jwks_endpoint(ok)
                .revocation_endpoint(ok)
                .build()
                .is_ok(),
            "{ok}"
        );
    }
    assert_eq!(
        problems(valid().issuer("http://auth.example.com")),
        ["auth_client.issuer must use https (plain http is allowed only for localhost, 127.0.0.1 or ::1), got \"http://auth.example.com\""]
    );
    assert_eq!(
        problems(valid().jwks_endpoint("/jwks")),
        ["auth_client.jwks_endpoint must be an absolute URL, got \"/jwks\""]
    );
    assert_eq!(
        problems(valid().revocation_endpoint("ftp://auth.example.com/revoked")),
        ["auth_client.revocation_endpoint must be an absolute https URL, got \"ftp://auth.example.com/revoked\""]
    );
    assert_eq!(
        problems(valid().jwks_endpoint("https://user:pw@auth.example.com/jwks")),
        ["auth_client.jwks_endpoint must not carry credentials in the URL"]
    );
    assert_eq!(
        problems(valid().jwks_endpoint("http://127.0.0.1.evil.example/jwks")),
        ["auth_client.jwks_endpoint must use https (plain http is allowed only for localhost, 127.0.0.1 or ::1), got \"http://127.0.0.1.evil.example/jwks\""]
    );
}

#[test]
fn algorithm_rules() {
    assert_eq!(
        problems(valid().accepted_algorithms(["RS256", "none", "RS257"])),
        [
            "auth_client.accepted_algorithms[1] \"none\" is never accepted: unsigned tokens prove nothing",
            "auth_client.accepted_algorithms[2] \"RS257\" is not a supported algorithm; use one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512, ML-DSA-65, ML-DSA-87",
        ]
    );
    assert_eq!(
        problems(valid().accepted_algorithms(["NONE"])),
        ["auth_client.accepted_algorithms[0] \"none\" is never accepted: unsigned tokens prove nothing"]
    );
    assert_eq!(
        problems(valid().accepted_algorithms(Vec::<String>::new())),
        ["auth_client.accepted_algorithms must list at least one algorithm, e.g. [\"RS256\"]"]
    );
}

#[test]
fn ml_dsa_is_an_asymmetric_algorithm() {
    let c = valid()
        .accepted_algorithms(["ML-DSA-65", "ML-DSA-87", "RS256"])
        .build()
        .unwrap();
    assert_eq!(c.algorithms().iter().count(), 3);
    assert_eq!(
        problems(valid().accepted_algorithms(["HS256", "ML-DSA-65"]).shared_secret("x".repeat(32))),
        ["auth_client.accepted_algorithms mixes shared-secret (HS256) and public-key (ML-DSA-65) algorithms; accept one kind only"]
    );
}

#[test]
fn hmac_rules() {
    let secret32 = "x".repeat(32);
    assert!(valid()
        .accepted_algorithms(["HS256"])
        .shared_secret(&secret32)
        .build()
        .is_ok());
    assert_eq!(
        problems(valid().accepted_algorithms(["HS256"])),
        ["auth_client.shared_secret must be set to use HS256 (an HMAC secret of at least the hash size)"]
    );
    assert_eq!(
        problems(
            valid()
                .accepted_algorithms(["HS512"])
                .shared_secret(&secret32)
        ),
        ["auth_client.shared_secret must be at least 64 bytes for HS512 (RFC 7518 §3.2)"]
    );
    assert_eq!(
        problems(valid().accepted_algorithms(["HS256", "RS256"]).shared_secret(&secret32)),
        ["auth_client.accepted_algorithms mixes shared-secret (HS256) and public-key (RS256) algorithms; accept one kind only"]
    );
    assert_eq!(
        problems(valid().shared_secret(&secret32)),
        ["auth_client.shared_secret is set but accepted_algorithms has no HS256/HS384/HS512: remove it or accept an HS algorithm"]
    );
    assert_eq!(
        problems(
            valid()
                .accepted_algorithms(["HS256"])
                .shared_secret(&secret32)
                .jwks_endpoint("https://auth.example.com/jwks")
        ),
        ["auth_client.shared_secret cannot be combined with a key set (jwks_endpoint / jwks_file): use one kind of key"]
    );
}

#[test]
fn numeric_ranges() {
    assert_eq!(
        problems(
            valid()
                .jwks_ttl_seconds(0)
                .revocation_ttl_seconds(0)
                .jwks_refresh_cooldown_seconds(0)
        ),
        [
            "auth_client.jwks_ttl_seconds must be between 1 and 86400",
            "auth_client.jwks_refresh_cooldown_seconds must be between 1 and 3600",
            "auth_client.revocation_ttl_seconds must be between 1 and 3600",
        ]
    );
    assert_eq!(
        problems(valid().http_timeout_seconds(0)),
        ["auth_client.http_timeout_seconds must be between 1 and 60"]
    );
    assert_eq!(
        problems(valid().http_timeout_seconds(61)),
        ["auth_client.http_timeout_seconds must be between 1 and 60"]
    );
    // Every duration has an upper bound (issue 11: 4e18 used to pass and overflow).
    assert_eq!(
        problems(
            valid()
                .jwks_ttl_seconds(4_000_000_000_000_000_000)
                .jwks_refresh_cooldown_seconds(3_601)
                .jwks_max_stale_seconds(u64::MAX)
                .revocation_ttl_seconds(86_400)
        ),
        [
            "auth_client.jwks_ttl_seconds must be between 1 and 86400",
            "auth_client.jwks_refresh_cooldown_seconds must be between 1 and 3600",
            "auth_client.revocation_ttl_seconds must be between 1 and 3600",
            "auth_client.jwks_max_stale_seconds must be between 0 and 604800",
        ]
    );
    let at_the_bounds = valid()
        .jwks_ttl_seconds(86_400)
        .jwks_refresh_cooldown_seconds(3_600)
        .jwks_max_stale_seconds(604_800)
        .revocation_ttl_seconds(3_600)
        .http_timeout_seconds(60)
        .leeway_seconds(300)
        .max_token_bytes(65_536)
        .build();
    assert!(at_the_bounds.is_ok(), "{at_the_bounds:?}");
    assert_eq!(
        problems(valid().leeway_seconds(301)),
        ["auth_client.leeway_seconds must be at most 300 (clock skew, not a token lifetime extension)"]
    );
    assert_eq!(
        problems(valid().max_token_bytes(100)),
        ["auth_client.max_token_bytes must be between 512 and 65536"]
    );
}

#[test]
fn claim_settings() {
    assert_eq!(
        problems(valid().role_claims(["roles", "realm_access..roles"])),
        ["auth_client.role_claims[1] \"realm_access..roles\" is invalid: a claim path must be non-empty dot-separated names, like `realm_access.roles` (quote a name that contains dots: `resource_access.\"my.client\".roles`)"]
    );
    assert_eq!(
        problems(valid().required_claims(["sub", ""])),
        ["auth_client.required_claims[1] must be a claim name, not empty"]
    );
    assert_eq!(
        problems(valid().require_typ(" ")),
        ["auth_client.require_typ must not be empty; remove the key to accept any `typ`"]
    );
    assert_eq!(
        problems(valid().jwks_endpoint("https://a.example/jwks").jwks_file("keys.json")),
        ["auth_client.jwks_file cannot be combined with auth_client.jwks_endpoint: keep the one your keys come from"]
    );
}

#[test]
fn debug_never_prints_secrets() {
    let c = valid()
        .accepted_algorithms(["HS256"])
        .shared_secret("super-secret-value-super-secret-value")
        .revocation_bearer("bearer-secret-value")
        .build()
        .unwrap();
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("super-secret-value") && !shown.contains("bearer-secret-value"),
        "{shown}"
    );
    assert!(shown.contains("<redacted>"));
    // Nor do problems about secrets.
    let p = problems(
        valid()
            .env_vars([("AUTH_CLIENT__SHARED_SECRET", "")])
            .yaml_str("auth_client:\n  shared_secret: [s3cr3t-in-a-list]\n"),
    );
    assert!(p.iter().all(|m| !m.contains("s3cr3t")), "{p:?}");
}

#[test]
fn error_display_lists_everything() {
    let e: ConfigError = AuthConfig::builder().build().unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("invalid auth configuration (2 problems):"));
    assert!(text.contains("\n  - auth_client.issuer must be set when auth is enabled"));
}

#[test]
fn yaml_12_booleans_only_and_no_duplicate_keys() {
    let c = valid()
        .yaml_str("auth_client:\n  audience: [no, y, on]\n")
        .build()
        .unwrap();
    assert_eq!(c.audiences(), ["no", "y", "on"]);
    let p = problems(
        valid()
            .yaml_str("auth_client:\n  issuer: https://a.example\n  issuer: https://b.example\n"),
    );
    assert!(p[0].starts_with("(document) is not valid YAML"), "{p:?}");
}

#[test]
fn yaml_syntax_errors_do_not_echo_the_document() {
    for doc in [
        "auth_client:\n  shared_secret: \"abc-SECRET-def\n  issuer: x\n",
        "auth_client:\n  shared_secret: [abc-SECRET-def\n",
        "auth_client:\n  shared_secret: {abc-SECRET-def: [}\n",
    ] {
        let p = problems(AuthConfig::builder().yaml_str(doc));
        assert!(
            p[0].starts_with("(document) is not valid YAML: ") && p[0].contains("line 2"),
            "{p:?}"
        );
        assert!(
            !p[0].contains("SECRET"),
            "the document reached the message: {p:?}"
        );
    }
}

#[test]
fn token_sources_are_read_validated_and_never_an_existing_header() {
    let config = portcullis_core::AuthConfig::builder()
        .yaml_str(
            "auth_client:\n  issuer: https://issuer.test\n  audience: api\n  jwks_file: /dev/null\n  token_header: X-Api-Token\n  token_cookie: session\n  token_query: access_token\n",
        )
        .build();
    // (jwks_file is not read by `build`.)
    let config = config.expect("valid");
    let sources = config.token_sources();
    assert_eq!(sources.header(), Some("x-api-token"));
    assert_eq!(sources.cookie(), Some("session"));
    assert_eq!(sources.query(), Some("access_token"));
    for (key, bad) in [
        ("token_header", "Authorization"),
        ("token_header", "x-agent-authorization"),
        ("token_header", "two words"),
        ("token_cookie", "a;b"),
        ("token_query", "a=b"),
    ] {
        let yaml = format!(
            "auth_client:\n  issuer: https://issuer.test\n  audience: api\n  jwks_file: /dev/null\n  {key}: \"{bad}\"\n"
        );
        let err = portcullis_core::AuthConfig::builder()
            .yaml_str(&yaml)
            .build()
            .expect_err(bad);
        assert!(err.to_string().contains(key), "{key}={bad}: {err}");
    }
}
