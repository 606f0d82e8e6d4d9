//! The tutorial's transcript, over real HTTP on 127.0.0.1, against the actix-web adapter.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::sync::LazyLock;
use tollgate_actix::{allow_anonymous, requires_role, AuthRejection, Claims, Tollgate};
use tollgate_core::testkit::{TestKey, TokenBuilder};
use tollgate_core::{AuthConfig, Authenticator, SecurityContext, StaticKeys};

static KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::rsa("k1"));
const ISS: &str = "https://auth.example.com";

fn get_profile() -> Result<Value, AuthRejection> {
    let claims = SecurityContext::require()?;
    Ok(json!({
        "sub": claims.sub(),
        "email": claims.email(),
        "org_id": claims.org_id(),
        "roles": SecurityContext::roles(),
    }))
}

async fn me() -> Result<HttpResponse, AuthRejection> {
    Ok(HttpResponse::Ok().json(get_profile()?))
}

async fn whoami(c: Option<Claims>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"sub": c.and_then(|c| c.0.sub().map(str::to_owned))}))
}

async fn handler_check() -> Result<HttpResponse, AuthRejection> {
    SecurityContext::require_role(["auditor"])?;
    Ok(HttpResponse::Ok().finish())
}

/// Starts the app on its own actix system thread; returns the base URL.
fn serve() -> String {
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
    gate.declare("GET", "/widgets/{id}", allow_anonymous());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .wrap(gate.middleware())
                    .service(web::resource("/api/me").route(web::get().to(me)))
                    .service(
                        gate.resource("/api/health", allow_anonymous()).route(
                            web::get()
                                .to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
                        ),
                    )
                    .service(
                        gate.resource("/api/admin/stats", requires_role(["admin"]))
                            .route(web::get().to(|| async {
                                HttpResponse::Ok().json(json!({"users": 42, "active": 30}))
                            })),
                    )
                    .service(
                        gate.resource("/api/editor/drafts", requires_role(["editor", "admin"]))
                            .route(
                                web::get()
                                    .to(|| async { HttpResponse::Ok().json(json!({"drafts": 5})) }),
                            ),
                    )
                    .service(gate.resource("/api/echo", requires_role(["admin"])).route(
                        web::post().to(|v: web::Json<Value>| async move {
                            HttpResponse::Ok().json(v.into_inner())
                        }),
                    ))
                    .service(
                        gate.resource("/api/whoami", allow_anonymous())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/api/handler-check").route(web::get().to(handler_check)),
                    )
                    // actix-web #3346: an anonymous pattern that shadows a protected one when
                    // guards are ignored must not open the protected route.
                    // (Resource-level guards, as `#[get]` / `#[post]` generate.)
                    .service(
                        web::resource("/widgets/{id}")
                            .guard(actix_web::guard::Get())
                            .to(HttpResponse::Ok),
                    )
                    .service(
                        web::resource("/widgets/action")
                            .guard(actix_web::guard::Post())
                            .to(|| async { HttpResponse::Ok().body("action ran") }),
                    )
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run()
            .await
            .unwrap();
        });
    });
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
    let base = serve();
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
    let base = serve();
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
async fn guard_shadowed_route_stays_protected() {
    let base = serve();
    assert_eq!(call(&format!("{base}/widgets/7"), None).await.0, 200);
    let resp = reqwest::Client::new()
        .post(format!("{base}/widgets/action"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = reqwest::Client::new()
        .post(format!("{base}/widgets/action"))
        .bearer_auth(token(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "action ran");
}

#[tokio::test]
async fn invalid_tokens_are_401_with_invalid_token() {
    let base = serve();
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
    let base = serve();
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
    let base = serve();
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
    let base = serve();
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
