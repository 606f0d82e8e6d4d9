//! The Protected API's `GET /api/me` behind jwt-authorizer, for `loadbench --jwt-authorizer`:
//! one worker (a current-thread runtime), keys from a JWKS URL, issuer and audience checked,
//! and the same profile answered as the portcullis targets answer.
//!
//! `loadbench-jwt-authorizer PORT JWKS_URL ISSUER AUDIENCE`

use axum::routing::get;
use axum::{Json, Router};
use jwt_authorizer::{IntoLayer, JwtAuthorizer, JwtClaims, Validation};
use serde::Deserialize;

/// The claims the profile shows.
#[derive(Clone, Deserialize)]
struct Claims {
    sub: String,
    email: Option<String>,
    org_id: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, jwks_url, issuer, audience] = args.as_slice() else {
        eprintln!("usage: loadbench-jwt-authorizer PORT JWKS_URL ISSUER AUDIENCE");
        std::process::exit(2);
    };
    let authorizer = JwtAuthorizer::<Claims>::from_jwks_url(jwks_url)
        .validation(Validation::new().iss(&[issuer]).aud(&[audience]))
        .build()
        .await
        .expect("authorizer");
    let protected = Router::new()
        .route(
            "/api/me",
            get(|JwtClaims(claims): JwtClaims<Claims>| async move {
                Json(serde_json::json!({
                    "sub": claims.sub, "email": claims.email, "org_id": claims.org_id,
                    "roles": claims.roles,
                }))
            }),
        )
        .layer(authorizer.into_layer());
    let app = Router::new()
        .route(
            "/api/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .merge(protected);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().expect("port")))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
