//! Every provider of `docs/providers.md`, configured by its documented block alone (the key
//! source swapped for a local key file: no network here), accepts a token shaped exactly like
//! that provider's and enforces a requirement read from that provider's own claim.

use portcullis_core::testkit::{ManualClock, TestKey, TokenBuilder};
use portcullis_core::{AuthConfig, AuthError, Authenticator, Requirement, TokenClaims};
use serde_json::json;

const GUIDE: &str = include_str!("../../docs/providers.md");
const NOW: i64 = 1_700_000_000;

/// The YAML block of `provider` in the guide.
fn block(provider: &str) -> String {
    let marker = format!("<!-- provider: {provider} -->");
    let start = GUIDE
        .find(&marker)
        .unwrap_or_else(|| panic!("no block for {provider}"));
    let rest = &GUIDE[start + marker.len()..];
    let body = rest
        .trim_start()
        .strip_prefix("```yaml\n")
        .unwrap_or_else(|| panic!("{provider}: a ```yaml block must follow the marker"));
    body[..body.find("```").expect("closing fence")].to_owned()
}

/// The documented configuration with its key source pointed at `key`.
fn authenticator(provider: &str, key: &TestKey) -> Authenticator {
    let dir = std::env::temp_dir().join(format!("portcullis-providers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("{provider}.json"));
    std::fs::write(&file, TestKey::jwks(&[key])).expect("jwks file");
    let yaml = block(provider);
    let yaml = if yaml.contains("jwks_endpoint:") {
        yaml.lines()
            .map(|l| match l.find("jwks_endpoint:") {
                Some(i) => format!("{}jwks_file: {}", &l[..i], file.display()),
                None => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        format!("{yaml}  jwks_file: {}\n", file.display())
    };
    let config = AuthConfig::builder()
        .yaml_str(&yaml)
        .build()
        .unwrap_or_else(|e| panic!("{provider}: the documented block is refused:\n{e}\n{yaml}"));
    Authenticator::builder(config)
        .clock(ManualClock::new(NOW))
        .build()
        .unwrap_or_else(|e| panic!("{provider}: {e}"))
}

fn token<'k>(key: &'k TestKey, iss: &str) -> TokenBuilder<'k> {
    TokenBuilder::new(key)
        .now(NOW)
        .issuer(iss)
        .subject("subject-1")
}

async fn accepted(auth: &Authenticator, token: &str, requirement: &Requirement) -> TokenClaims {
    let claims = auth
        .verify_token(token)
        .await
        .expect("the provider's token");
    requirement
        .check(Some(&claims))
        .expect("the requirement from the provider's own claim");
    claims
}

#[tokio::test]
async fn oidc_provider() {
    let key = TestKey::rsa("oidc-1");
    let auth = authenticator("oidc-provider", &key);
    let at = |scope: &str| {
        token(&key, "https://issuer.example.com")
            .header("typ", json!("at+jwt"))
            .audience("https://api.example.com")
            .claim("client_id", json!("reporting-service"))
            .claim("scope", json!(scope))
            .sign()
    };
    let need = Requirement::any_scope(["api:read"]);
    let claims = accepted(&auth, &at("api:read api:write"), &need).await;
    assert_eq!(claims.client_id(), Some("reporting-service"));
    let other = auth.verify_token(&at("api:write")).await.expect("valid");
    assert!(need.check(Some(&other)).is_err());
    // An ID token (typ JWT) is not an access token here.
    let id = token(&key, "https://issuer.example.com")
        .audience("https://api.example.com")
        .sign();
    assert_eq!(
        auth.verify_token(&id).await.unwrap_err(),
        AuthError::WrongType
    );
}

#[tokio::test]
async fn keycloak() {
    let key = TestKey::rsa("kc-1");
    let auth = authenticator("keycloak", &key);
    let t = |client_roles: &[&str]| {
        token(&key, "https://keycloak.example.com/realms/shop")
            .claim("aud", json!(["orders.api", "account"]))
            .claim("azp", json!("shop-frontend"))
            .claim("typ", json!("Bearer"))
            .claim("realm_access", json!({"roles": ["offline_access", "uma_authorization"]}))
            .claim(
                "resource_access",
                json!({"orders.api": {"roles": client_roles}, "account": {"roles": ["manage-account"]}}),
            )
            .sign()
    };
    let need = Requirement::any_role(["order-admin"]);
    let claims = accepted(&auth, &t(&["order-admin"]), &need).await;
    assert!(claims.has_role("offline_access"), "realm roles too");
    assert_eq!(claims.client_id(), Some("shop-frontend"));
    let plain = auth.verify_token(&t(&[])).await.expect("valid");
    assert!(need.check(Some(&plain)).is_err());
}

#[tokio::test]
async fn auth0() {
    let key = TestKey::rsa("auth0-1");
    let auth = authenticator("auth0", &key);
    let t = |permissions: &[&str]| {
        token(&key, "https://shop.eu.auth0.com/")
            .claim(
                "aud",
                json!([
                    "https://api.shop.example",
                    "https://shop.eu.auth0.com/userinfo"
                ]),
            )
            .claim("azp", json!("spa-client"))
            .claim("scope", json!("openid profile email"))
            .claim("permissions", json!(permissions))
            .claim("https://shop.example/roles", json!(["support"]))
            .sign()
    };
    let need = Requirement::any_scope(["read:orders"]);
    let claims = accepted(&auth, &t(&["read:orders"]), &need).await;
    assert!(
        claims.has_role("support"),
        "roles from the namespaced claim"
    );
    let none = auth.verify_token(&t(&[])).await.expect("valid");
    assert!(need.check(Some(&none)).is_err());
    // Without the trailing slash it is not Auth0's issuer.
    let slashless = token(&key, "https://shop.eu.auth0.com")
        .audience("https://api.shop.example")
        .sign();
    assert_eq!(
        auth.verify_token(&slashless).await.unwrap_err(),
        AuthError::WrongIssuer
    );
}

#[tokio::test]
async fn entra_v2_and_v1() {
    let key = TestKey::rsa("entra-1");
    let auth = authenticator("entra", &key);
    let tenant = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
    let v2 = |roles: &[&str]| {
        token(
            &key,
            &format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        )
        .audience("6e74172b-be56-4843-9ff4-e66a39bb12e3")
        .claim("azp", json!("c44b4083-3bb0-49c1-b47d-974e53cbdf3c"))
        .claim("scp", json!("access_as_user"))
        .claim("roles", json!(roles))
        .claim("tid", json!(tenant))
        .claim("ver", json!("2.0"))
        .sign()
    };
    let v1 = token(&key, &format!("https://sts.windows.net/{tenant}/"))
        .audience("api://orders")
        .claim("appid", json!("c44b4083-3bb0-49c1-b47d-974e53cbdf3c"))
        .claim("roles", json!(["Orders.Admin"]))
        .claim("ver", json!("1.0"))
        .sign();
    let need = Requirement::any_role(["Orders.Admin"]);
    let claims = accepted(&auth, &v2(&["Orders.Admin"]), &need).await;
    assert!(claims.has_scope("access_as_user"));
    let claims = accepted(&auth, &v1, &need).await;
    assert_eq!(
        claims.verifying_issuer(),
        Some(format!("https://sts.windows.net/{tenant}/").as_str())
    );
    assert_eq!(
        claims.client_id(),
        Some("c44b4083-3bb0-49c1-b47d-974e53cbdf3c")
    );
    let reader = auth
        .verify_token(&v2(&["Orders.Read"]))
        .await
        .expect("valid");
    assert!(need.check(Some(&reader)).is_err());
    // A v2 token for the v1 audience: each entry its own audience.
    let crossed = token(
        &key,
        &format!("https://login.microsoftonline.com/{tenant}/v2.0"),
    )
    .audience("api://orders")
    .sign();
    assert_eq!(
        auth.verify_token(&crossed).await.unwrap_err(),
        AuthError::WrongAudience
    );
}

#[tokio::test]
async fn okta() {
    let key = TestKey::rsa("okta-1");
    let auth = authenticator("okta", &key);
    let t = |groups: &[&str]| {
        token(&key, "https://dev-123456.okta.com/oauth2/default")
            .audience("api://default")
            .claim("cid", json!("0oa1b2c3d4"))
            .claim("scp", json!(["orders.read", "openid"]))
            .claim("groups", json!(groups))
            .claim("ver", json!(1))
            .sign()
    };
    let need = Requirement::any_group(["Orders"]);
    let claims = accepted(&auth, &t(&["Everyone", "Orders"]), &need).await;
    assert_eq!(claims.client_id(), Some("0oa1b2c3d4"));
    assert!(claims.has_scope("orders.read"));
    let everyone = auth.verify_token(&t(&["Everyone"])).await.expect("valid");
    assert!(need.check(Some(&everyone)).is_err());
}

#[tokio::test]
async fn cognito_access_token_accepted_id_token_refused() {
    let key = TestKey::rsa("cognito-1");
    let auth = authenticator("cognito", &key);
    let pool = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123";
    let client = "5u7alpkqva4l1ph2nn0b4j6dbc";
    let access = |groups: &[&str]| {
        token(&key, pool)
            .claim("client_id", json!(client))
            .claim("token_use", json!("access"))
            .claim("scope", json!("aws.cognito.signin.user.admin"))
            .claim("cognito:groups", json!(groups))
            .claim("username", json!("alice"))
            .sign()
    };
    let need = Requirement::any_group(["admins"]);
    accepted(&auth, &access(&["admins"]), &need).await;
    let user = auth.verify_token(&access(&["users"])).await.expect("valid");
    assert!(need.check(Some(&user)).is_err());
    let id = token(&key, pool)
        .audience(client)
        .claim("token_use", json!("id"))
        .claim("cognito:groups", json!(["admins"]))
        .sign();
    assert!(
        auth.verify_token(&id).await.is_err(),
        "an ID token where an access token is required"
    );
}

#[tokio::test]
async fn google_both_issuer_spellings() {
    let key = TestKey::rsa("google-1");
    let auth = authenticator("google", &key);
    let need = Requirement::any_group(["example.com"]);
    for iss in ["https://accounts.google.com", "accounts.google.com"] {
        let t = |hd: &str| {
            token(&key, iss)
                .audience("1234567890-abc.apps.googleusercontent.com")
                .claim("azp", json!("1234567890-abc.apps.googleusercontent.com"))
                .claim("email", json!("alice@example.com"))
                .claim("email_verified", json!(true))
                .claim("hd", json!(hd))
                .sign()
        };
        let claims = accepted(&auth, &t("example.com"), &need).await;
        assert_eq!(claims.verifying_issuer(), Some(iss));
        let outsider = auth.verify_token(&t("other.org")).await.expect("valid");
        assert!(need.check(Some(&outsider)).is_err());
    }
}

#[tokio::test]
async fn pico_auth() {
    let key = TestKey::rsa("pico-auth-1");
    let auth = authenticator("pico-auth", &key);
    let t = |role: &str| {
        token(&key, "http://localhost:8100")
            .audience("pico-bot")
            .claim("email", json!("admin@pico.local"))
            .claim("role", json!(role))
            .claim("org_id", json!("default"))
            .claim("groups", json!([]))
            .claim("jti", json!("e7147bcb12a2"))
            .sign()
    };
    let need = Requirement::any_role(["superadmin"]);
    let claims = accepted(&auth, &t("superadmin"), &need).await;
    assert_eq!(claims.org_id(), Some("default"));
    let viewer = auth.verify_token(&t("viewer")).await.expect("valid");
    assert!(need.check(Some(&viewer)).is_err());
}
