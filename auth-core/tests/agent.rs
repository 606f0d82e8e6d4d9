//! Agent identity: `X-Agent-Authorization`, agent scopes and `AgentContext`.

mod common;

use common::*;
use portcullis_core::{
    AgentClaims, AgentContext, AuthError, AuthorizationHeader, Caller, RequestCredentials,
    Requirement, SecurityContext, TokenClaims,
};
use serde_json::json;

fn creds<'a>(user: &'a str, agent: Option<&'a str>) -> RequestCredentials<'a> {
    RequestCredentials::new(
        AuthorizationHeader::from(user),
        agent.map_or(AuthorizationHeader::Absent, AuthorizationHeader::from),
    )
}

#[tokio::test]
async fn agent_scope_requirement() {
    let (auth, _) = default_auth();
    let user = format!("Bearer {}", token(&RSA).roles(&["treasury-service"]).sign());
    let agent = |scopes: &[&str]| {
        format!(
            "Bearer {}",
            token(&EC256)
                .subject("agent-7")
                .claim("scopes", json!(scopes))
                .claim("task_type", json!("payment"))
                .claim("user_id", json!("user-123"))
                .claim("spend_limit", json!(250.5))
                .claim("parent_chain", json!(["root-agent"]))
                .sign()
        )
    };
    let need = Requirement::any_role(["treasury-service"])
        .and(Requirement::agent_scope(["treasury:write:payments"]));

    // Granted by wildcard.
    let wide = agent(&["treasury:write:*"]);
    let caller = auth
        .authorize_request(creds(&user, Some(&wide)), &need)
        .await
        .unwrap();
    let a = caller.agent.clone().unwrap();
    assert_eq!(a.sub(), Some("agent-7"));
    assert_eq!(a.task_type(), Some("payment"));
    assert_eq!(a.user_id(), Some("user-123"));
    assert_eq!(a.spend_limit(), Some(250.5));
    assert_eq!(a.parent_chain(), ["root-agent"]);
    assert_eq!(a.scopes(), ["treasury:write:*"]);

    // Missing, wrong, invalid.
    let e = auth
        .authorize_request(creds(&user, None), &need)
        .await
        .unwrap_err();
    assert_eq!(e, AuthError::MissingAgentToken);
    assert_eq!(
        e.to_response().body,
        r#"{"detail":"Endpoint requires X-Agent-Authorization header (agent token)"}"#
    );
    assert_eq!(e.status(), 401);
    let narrow = agent(&["treasury:read"]);
    let e = auth
        .authorize_request(creds(&user, Some(&narrow)), &need)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 403);
    assert_eq!(
        e.detail(),
        "Agent missing required scope; required one of: ['treasury:write:payments']"
    );
    let bad = format!("Bearer {}", token(&EC256).tamper_signature().sign());
    assert_eq!(
        auth.authorize_request(creds(&user, Some(&bad)), &need)
            .await
            .unwrap_err(),
        AuthError::InvalidAgentToken
    );
    // The role part is checked too.
    let plain_user = format!("Bearer {}", token(&RSA).sign());
    let e = auth
        .authorize_request(creds(&plain_user, Some(&wide)), &need)
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "insufficient_role");
}

#[tokio::test]
async fn routes_without_agent_scope_ignore_the_agent_header() {
    let (auth, _) = default_auth();
    let user = format!("Bearer {}", token(&RSA).sign());
    let caller = auth
        .authorize_request(
            creds(&user, Some("Bearer garbage")),
            &Requirement::Authenticated,
        )
        .await
        .unwrap();
    assert!(caller.user.is_some());
    assert!(caller.agent.is_none(), "not verified, not installed");
}

#[tokio::test]
async fn agent_context_is_task_local() {
    let agent = AgentClaims::new(TokenClaims::from_json(
        json!({"sub": "agent-1", "scope": "files:read"}),
    ));
    assert_eq!(
        agent.scopes(),
        ["files:read"],
        "falls back to `scope` when `scopes` is absent"
    );
    let user = TokenClaims::from_json(json!({"sub": "u"}));
    Caller::new(Some(user), Some(agent))
        .scope(async {
            assert_eq!(
                AgentContext::get()
                    .and_then(|a| a.sub().map(str::to_owned))
                    .as_deref(),
                Some("agent-1")
            );
            assert!(AgentContext::has_scope("files:read"));
            assert!(AgentContext::require_scope(["files:read", "x"]).is_ok());
            assert_eq!(
                AgentContext::require_scope(["files:write"])
                    .unwrap_err()
                    .status(),
                403
            );
            assert!(SecurityContext::check(&Requirement::agent_scope(["files:read"])).is_ok());
            let carried =
                tokio::spawn(AgentContext::carry(async { AgentContext::get().is_some() }))
                    .await
                    .unwrap();
            assert!(carried);
        })
        .await;
    assert!(AgentContext::get().is_none());
    assert_eq!(
        AgentContext::require().unwrap_err(),
        AuthError::MissingAgentToken
    );
}

#[tokio::test]
async fn error_body_hook_keeps_status_and_challenge() {
    let config = config().build().unwrap();
    let auth = portcullis_core::Authenticator::builder(config)
        .key_source(
            portcullis_core::StaticKeys::from_jwks(&portcullis_core::testkit::TestKey::jwks(&[
                &RSA,
            ]))
            .unwrap(),
        )
        .error_body(|e| json!({"error": e.reason()}).to_string())
        .build()
        .unwrap();
    let e = auth
        .authorize(None, &Requirement::Authenticated)
        .await
        .unwrap_err();
    let r = auth.error_response(&e);
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, r#"{"error":"missing_token"}"#)
    );
    assert_eq!(r.www_authenticate.as_deref(), Some("Bearer"));
}
