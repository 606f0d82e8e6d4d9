//! The tutorial's transcript, over real HTTP on 127.0.0.1, against the warp adapter.

use serde_json::{json, Value};
use std::sync::LazyLock;
use tollgate_core::testkit::{TestKey, TokenBuilder};
use tollgate_core::{AuthConfig, Authenticator, SecurityContext, StaticKeys, TokenClaims};
use tollgate_warp::Tollgate;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

static KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::rsa("k1"));
const ISS: &str = "https://auth.example.com";

fn get_profile() -> Result<Value, warp::Rejection> {
    let claims = SecurityContext::require().map_err(tollgate_warp::reject)?;
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

    let health = warp::path!("api" / "health")
        .and(warp::get())
        .map(|| warp::reply::json(&json!({"status": "ok"})));
    let whoami = warp::path!("api" / "whoami")
        .and(gate.optional_claims())
        .map(|c: Option<TokenClaims>| {
            warp::reply::json(&json!({"sub": c.and_then(|c| c.sub().map(str::to_owned))}))
        });
    let public = boxed(health).or(boxed(whoami)).unify();

    let me = warp::path!("api" / "me")
        .and(warp::get())
        .and_then(|| async { get_profile().map(|v| warp::reply::json(&v)) });
    let stats = warp::path!("api" / "admin" / "stats")
        .and(gate.requires_role(["admin"]))
        .map(|| warp::reply::json(&json!({"users": 42, "active": 30})));
    let drafts = warp::path!("api" / "editor" / "drafts")
        .and(gate.requires_role(["editor", "admin"]))
        .map(|| warp::reply::json(&json!({"drafts": 5})));
    let echo = warp::path!("api" / "echo")
        .and(warp::post())
        .and(gate.requires_role(["admin"]))
        .and(warp::body::json())
        .map(|v: Value| warp::reply::json(&v));
    let handler_check = warp::path!("api" / "handler-check").and_then(|| async {
        SecurityContext::require_role(["auditor"]).map_err(tollgate_warp::reject)?;
        Ok::<_, warp::Rejection>("never")
    });
    let protected = boxed(me)
        .or(boxed(stats))
        .unify()
        .or(boxed(drafts))
        .unify()
        .or(boxed(echo))
        .unify()
        .or(boxed(handler_check))
        .unify();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gate.protect(public, protected).serve(listener));
    format!("http://{addr}")
}

/// One route as a boxed filter of responses, so routes combine with `or(..).unify()`.
fn boxed<F, R>(filter: F) -> BoxedFilter<(Response,)>
where
    F: Filter<Extract = (R,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
    R: warp::Reply,
{
    filter.map(|r: R| r.into_response()).boxed()
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
    assert_eq!(resp.status().as_u16(), 403, "403, not 400/415");
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
