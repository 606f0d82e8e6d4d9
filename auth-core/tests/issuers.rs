//! Several trusted issuers, and the audience and token-kind rules real providers need:
//! `issuers:` in YAML, client ids instead of `aud` (Cognito), required claim values
//! (`token_use: access`), issuers written without a scheme (Google).

mod common;

use common::*;
use portcullis_core::testkit::{ManualClock, TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, AuthError, Authenticator};
use serde_json::json;

/// A JWKS file for `keys`, kept for the test's life.
fn jwks_file(name: &str, keys: &[&TestKey]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-issuers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, TestKey::jwks(keys)).expect("write jwks");
    path
}

fn build(yaml: &str) -> Result<Authenticator, String> {
    let config = AuthConfig::builder()
        .yaml_str(yaml)
        .build()
        .map_err(|e| e.to_string())?;
    Authenticator::builder(config)
        .clock(ManualClock::new(NOW))
        .build()
        .map_err(|e| e.to_string())
}

fn minted<'k>(key: &'k TestKey, iss: &str) -> TokenBuilder<'k> {
    TokenBuilder::new(key).now(NOW).issuer(iss).subject("s-1")
}

#[tokio::test]
async fn yaml_issuers_each_with_its_settings_keys_and_claim_mapping() {
    let a_key = TestKey::rsa("same-kid");
    let b_key = TestKey::ec_p256("same-kid");
    let yaml = format!(
        r#"
auth_client:
  leeway_seconds: 0
  issuers:
    - issuer: https://a.example
      audience: api-a
      jwks_file: {}
    - issuer: https://b.example
      audience: [api-b]
      accepted_algorithms: [ES256]
      role_claims: [realm_access.roles]
      jwks_file: {}
"#,
        jwks_file("a", &[&a_key]).display(),
        jwks_file("b", &[&b_key]).display()
    );
    let auth = build(&yaml).expect("valid");
    let a = minted(&a_key, "https://a.example")
        .audience("api-a")
        .roles(&["admin"])
        .sign();
    let claims = auth.verify_token(&a).await.expect("a's token");
    assert_eq!(claims.verifying_issuer(), Some("https://a.example"));
    assert!(claims.has_role("admin"));
    let b = minted(&b_key, "https://b.example")
        .audience("api-b")
        .claim("realm_access", json!({"roles": ["editor"]}))
        .sign();
    let claims = auth.verify_token(&b).await.expect("b's token");
    assert_eq!(claims.verifying_issuer(), Some("https://b.example"));
    assert!(claims.has_role("editor"));
    // Each issuer's own allowlist, audience and keys.
    let b_as_rs256 = minted(&a_key, "https://b.example").audience("api-b").sign();
    assert_eq!(
        auth.verify_token(&b_as_rs256).await.unwrap_err(),
        AuthError::DisallowedAlgorithm
    );
    let a_for_b = minted(&a_key, "https://a.example").audience("api-b").sign();
    assert_eq!(
        auth.verify_token(&a_for_b).await.unwrap_err(),
        AuthError::WrongAudience
    );
    let stranger = minted(&a_key, "https://c.example").audience("api-a").sign();
    assert_eq!(
        auth.verify_token(&stranger).await.unwrap_err(),
        AuthError::WrongIssuer
    );
    let no_iss = TokenBuilder::new(&a_key).now(NOW).audience("api-a").sign();
    assert!(matches!(
        auth.verify_token(&no_iss).await.unwrap_err(),
        AuthError::MissingClaim(c) if c == "iss"
    ));
    // Readiness covers every issuer's keys.
    assert!(auth.readiness().ready);
}

#[test]
fn issuer_entries_are_validated_and_named_in_problems() {
    let err = build(
        "auth_client:\n  issuers:\n    - issuer: https://a.example\n      audience: x\n      jwks_file: /dev/null\n    - issuer: https://b.example\n      jwks_file: /dev/null\n",
    )
    .unwrap_err();
    assert!(
        err.contains("auth_client.issuers[1].audience must be set"),
        "{err}"
    );
    let err = build(
        "auth_client:\n  issuers:\n    - {issuer: https://a.example, audience: x, jwks_file: /dev/null}\n    - {issuer: https://a.example, audience: y, jwks_file: /dev/null}\n",
    )
    .unwrap_err();
    assert!(err.contains("name the same issuer"), "{err}");
    let err = build("auth_client:\n  issuers: [https://a.example]\n").unwrap_err();
    assert!(
        err.contains("auth_client.issuers[0] must be a mapping"),
        "{err}"
    );
}

#[tokio::test]
async fn cognito_access_tokens_by_client_id_and_token_use_id_tokens_refused() {
    let key = TestKey::rsa("cognito-kid");
    let pool = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example";
    let yaml = format!(
        "auth_client:\n  issuer: {pool}\n  client_ids: [app-client-1]\n  required_claim_values: {{token_use: access}}\n  group_claims: [\"cognito:groups\"]\n  jwks_file: {}\n",
        jwks_file("cognito", &[&key]).display()
    );
    let auth = build(&yaml).expect("valid");
    let access = minted(&key, pool)
        .claim("client_id", json!("app-client-1"))
        .claim("token_use", json!("access"))
        .claim("cognito:groups", json!(["admins"]))
        .sign();
    let claims = auth.verify_token(&access).await.expect("access token");
    assert!(claims.has_group("admins"));
    assert_eq!(claims.client_id(), Some("app-client-1"));
    // The ID token of the same client: `aud` is the client, `token_use: id`.
    let id = minted(&key, pool)
        .audience("app-client-1")
        .claim("token_use", json!("id"))
        .sign();
    assert_eq!(
        auth.verify_token(&id).await.unwrap_err(),
        AuthError::WrongClient
    );
    let id_with_client = minted(&key, pool)
        .claim("client_id", json!("app-client-1"))
        .claim("token_use", json!("id"))
        .sign();
    assert_eq!(
        auth.verify_token(&id_with_client).await.unwrap_err(),
        AuthError::WrongClaimValue
    );
    let other_client = minted(&key, pool)
        .claim("client_id", json!("app-client-2"))
        .claim("token_use", json!("access"))
        .sign();
    assert_eq!(
        auth.verify_token(&other_client).await.unwrap_err(),
        AuthError::WrongClient
    );
}

#[tokio::test]
async fn google_issues_both_spellings_of_its_issuer() {
    let key = TestKey::rsa("google-kid");
    let file = jwks_file("google", &[&key]);
    let yaml = format!(
        "auth_client:\n  issuers:\n    - {{issuer: https://accounts.google.com, audience: my-client.apps.googleusercontent.com, jwks_file: {f}}}\n    - {{issuer: accounts.google.com, audience: my-client.apps.googleusercontent.com, jwks_file: {f}}}\n",
        f = file.display()
    );
    let auth = build(&yaml).expect("valid");
    for iss in ["https://accounts.google.com", "accounts.google.com"] {
        let t = minted(&key, iss)
            .audience("my-client.apps.googleusercontent.com")
            .sign();
        let claims = auth.verify_token(&t).await.expect(iss);
        assert_eq!(claims.verifying_issuer(), Some(iss));
    }
    // Without a key source, a schemeless issuer cannot be discovered: refused at start.
    let err = build("auth_client:\n  issuer: accounts.google.com\n  audience: x\n").unwrap_err();
    assert!(err.contains("has no scheme"), "{err}");
}

#[test]
fn no_audience_and_no_client_rule_is_refused() {
    let err =
        build("auth_client:\n  issuer: https://a.example\n  jwks_file: /dev/null\n").unwrap_err();
    assert!(err.contains("set `client_ids` instead"), "{err}");
}

#[tokio::test]
async fn okta_and_entra_v1_name_their_client_in_cid_and_appid() {
    let (auth, _) = default_auth();
    for claim in ["cid", "appid"] {
        let t = token(&RSA).claim(claim, json!("the-client")).sign();
        let claims = auth.verify_token(&t).await.expect("valid");
        assert_eq!(claims.client_id(), Some("the-client"), "{claim}");
    }
}
