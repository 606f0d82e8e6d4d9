//! The tutorial's transcript, over real HTTP on 127.0.0.1, against the axum adapter.

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::LazyLock;
use tollgate_axum::{allow_anonymous, requires_role, AuthRejection, Claims, RouterExt, Tollgate};
use tollgate_core::testkit::{TestKey, TokenBuilder};
use tollgate_core::{AuthConfig, Authenticator, SecurityContext, StaticKeys};

static KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::rsa("k1"));
const ISS: &str = "https://auth.example.com";

/// The tutorial's `UserService`: reads the caller from the SecurityContext.
fn get_profile() -> Result<Value, AuthRejection> {
    let claims = SecurityContext::require()?;
    Ok(json!({
        "sub": claims.sub(),
        "email": claims.email(),
        "org_id": claims.org_id(),
        "roles": SecurityContext::roles(),
    }))
}

async fn serve() -> String {
    let config = AuthConfig::builder()
        .issuer(ISS)
        .audience("my-api")
        .build()
        .unwrap();
    let auth = Authenticator::builder(config)
        .key_source(StaticKeys::from_jwks(&TestKey::jwks(&[&KEY])).unwrap())
        .build()
        .unwrap();
    let gate = Tollgate::new(auth);
    let app = Router::new()
        .route("/api/me", get(|| async { get_profile().map(Json) }))
        .route_with(
            &gate,
            "/api/health",
            get(|| async { Json(json!({"status": "ok"})) }),
            allow_anonymous(),
        )
        .route_with(
            &gate,
            "/api/admin/stats",
            get(|| async { Json(json!({"users": 42, "active": 30})) }),
            requires_role(["admin"]),
        )
        .route_with(
            &gate,
            "/api/editor/drafts",
            get(|| async { Json(json!({"drafts": 5})) }),
            requires_role(["editor", "admin"]),
        )
        .route_with(
            &gate,
            "/api/echo",
            post(|Json(v): Json<Value>| async move { Json(v) }),
            requires_role(["admin"]),
        )
        .route_with(
            &gate,
            "/api/whoami",
            get(|c: Option<Claims>| async move {
                Json(json!({"sub": c.and_then(|c| c.0.sub().map(str::to_owned))}))
            }),
            allow_anonymous(),
        )
        .route(
            "/api/handler-check",
            get(|| async {
                SecurityContext::require_role(["auditor"]).map_err(AuthRejection)?;
                Ok::<_, AuthRejection>("never")
            }),
        )
        .layer(gate.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn token(roles: &[&str]) -> String {
    TokenBuilder::new(&KEY)
        .issuer(ISS)
        .audience("my-api")
        .subject("user-123")
        .claim("email", json!("user@example.com"))
        .claim("org_id", json!("org-1"))
        .roles(roles)
        .sign()
}

async fn call(url: &str, token: Option<&str>) -> (u16, String, Option<String>) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, resp.text().await.unwrap(), challenge)
}

#[tokio::test]
async fn tutorial_transcript() {
    let base = serve().await;
    let admin = token(&["admin"]);
    let user = token(&["user"]);

    assert_eq!(
        call(&format!("{base}/api/health"), None).await,
        (200, r#"{"status":"ok"}"#.into(), None)
    );
    assert_eq!(
        call(&format!("{base}/api/me"), None).await,
        (
            401,
            r#"{"detail":"Missing or invalid Authorization header"}"#.into(),
            Some("Bearer".into())
        )
    );
    assert_eq!(
        call(&format!("{base}/api/me"), Some(&admin)).await,
        (
            200,
            r#"{"sub":"user-123","email":"user@example.com","org_id":"org-1","roles":["admin"]}"#
                .into(),
            None
        )
    );
    let (status, body, challenge) = call(&format!("{base}/api/admin/stats"), Some(&user)).await;
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"detail":"Requires one of roles: ['admin']"}"#)
    );
    assert!(challenge
        .unwrap()
        .starts_with(r#"Bearer error="insufficient_scope""#));
    assert_eq!(
        call(&format!("{base}/api/admin/stats"), Some(&admin))
            .await
            .1,
        r#"{"users":42,"active":30}"#
    );
    assert_eq!(
        call(
            &format!("{base}/api/editor/drafts"),
            Some(&token(&["editor"]))
        )
        .await
        .1,
        r#"{"drafts":5}"#
    );
    assert_eq!(
        call(&format!("{base}/api/editor/drafts"), Some(&user))
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn unknown_paths_are_protected() {
    let base = serve().await;
    assert_eq!(call(&format!("{base}/nope"), None).await.0, 401);
    assert_eq!(
        call(&format!("{base}/nope"), Some(&token(&[]))).await.0,
        404
    );
    // Wrong method on a known route: 401 without a token, 405 with one.
    let resp = reqwest::Client::new()
        .delete(format!("{base}/api/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = reqwest::Client::new()
        .delete(format!("{base}/api/me"))
        .bearer_auth(token(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
}

#[tokio::test]
async fn invalid_tokens_are_401_with_invalid_token() {
    let base = serve().await;
    let bad = TokenBuilder::new(&KEY)
        .issuer(ISS)
        .audience("my-api")
        .tamper_signature()
        .sign();
    let (status, body, challenge) = call(&format!("{base}/api/me"), Some(&bad)).await;
    assert_eq!(status, 401);
    assert_eq!(body, r#"{"detail":"Invalid token signature"}"#);
    assert!(challenge
        .unwrap()
        .starts_with(r#"Bearer error="invalid_token""#));
}

#[tokio::test]
async fn role_check_runs_before_body_extraction() {
    let base = serve().await;
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/echo"))
        .bearer_auth(token(&["user"]))
        .header("content-type", "text/plain")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403, "403, not 415/422");
}

#[tokio::test]
async fn anonymous_routes_see_a_valid_caller_and_ignore_an_invalid_token() {
    let base = serve().await;
    assert_eq!(
        call(&format!("{base}/api/whoami"), None).await.1,
        r#"{"sub":null}"#
    );
    assert_eq!(
        call(&format!("{base}/api/whoami"), Some(&token(&[])))
            .await
            .1,
        r#"{"sub":"user-123"}"#
    );
    assert_eq!(
        call(&format!("{base}/api/whoami"), Some("garbage")).await,
        (200, r#"{"sub":null}"#.into(), None)
    );
}

#[tokio::test]
async fn a_handler_role_check_is_403() {
    let base = serve().await;
    let (status, body, _) = call(
        &format!("{base}/api/handler-check"),
        Some(&token(&["user"])),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"detail":"Requires one of roles: ['auditor']"}"#)
    );
}
