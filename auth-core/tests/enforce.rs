//! What gates and route markers rely on: `Authenticator::authenticate_request` (the gate's
//! decision), `SecurityContext::enforce` (the marker's), and the refusal of a requirement that
//! runs with no gate in front of it.

mod common;

use common::*;
use portcullis_core::{
    AgentContext, AuthError, AuthorizationHeader, RequestCredentials, Requirement, SecurityContext,
};
use serde_json::json;

fn creds<'a>(user: Option<&'a str>, agent: Option<&'a str>) -> RequestCredentials<'a> {
    RequestCredentials::new(
        user.map_or(AuthorizationHeader::Absent, AuthorizationHeader::from),
        agent.map_or(AuthorizationHeader::Absent, AuthorizationHeader::from),
    )
}

fn admin() -> Requirement {
    Requirement::any_role(["admin"])
}

#[test]
fn a_requirement_with_no_gate_in_front_is_not_enforced_and_refused_with_500() {
    assert!(!SecurityContext::is_installed());
    let e = SecurityContext::enforce(&admin()).unwrap_err();
    assert_eq!(e, AuthError::NotEnforced);
    assert_eq!(
        SecurityContext::enforce(&Requirement::Authenticated),
        Err(AuthError::NotEnforced)
    );
    let answer = e.to_response();
    assert_eq!(answer.status, 500);
    assert_eq!(
        answer.body,
        r#"{"detail":"Authentication is not configured for this route"}"#
    );
    assert_eq!(answer.www_authenticate, None);
    // Anonymous requires nothing, gate or not.
    assert_eq!(SecurityContext::enforce(&Requirement::Anonymous), Ok(()));
}

#[tokio::test]
async fn the_gate_refuses_without_a_valid_token_and_installs_the_caller() {
    let (auth, _) = default_auth();
    assert_eq!(
        auth.authenticate_request(creds(None, None))
            .await
            .unwrap_err(),
        AuthError::MissingToken
    );
    assert_eq!(
        auth.authenticate_request(creds(Some("Bearer x.y.z"), None))
            .await
            .unwrap_err()
            .status(),
        401
    );
    let user = format!("Bearer {}", token(&RSA).roles(&["user"]).sign());
    let caller = auth
        .authenticate_request(creds(Some(&user), None))
        .await
        .unwrap();
    let (installed, authenticated, role) = caller
        .scope(async {
            (
                SecurityContext::is_installed(),
                SecurityContext::enforce(&Requirement::Authenticated),
                SecurityContext::enforce(&admin()),
            )
        })
        .await;
    assert!(installed);
    assert_eq!(authenticated, Ok(()));
    assert_eq!(role.unwrap_err().status(), 403);
}

#[tokio::test]
async fn an_anonymous_scope_is_enforced_as_unauthenticated() {
    let outcome = SecurityContext::scope(None, async {
        (
            SecurityContext::enforce(&Requirement::Authenticated),
            SecurityContext::enforce(&Requirement::Anonymous),
        )
    })
    .await;
    assert_eq!(outcome, (Err(AuthError::NotAuthenticated), Ok(())));
}

#[tokio::test]
async fn disabled_authentication_lets_every_requirement_pass_but_identifies_no_one() {
    let (auth, _) = authenticator(config().enabled(false), &[&RSA]);
    let caller = auth.authenticate_request(creds(None, None)).await.unwrap();
    let outcome = caller
        .scope(async {
            (
                SecurityContext::enforce(&admin()),
                SecurityContext::enforcing(),
                SecurityContext::get().is_none(),
                // A check inside a handler still sees no caller.
                SecurityContext::require_role(["admin"]),
            )
        })
        .await;
    assert_eq!(
        outcome,
        (Ok(()), false, true, Err(AuthError::NotAuthenticated))
    );
    let optional = auth.authenticate_optional(creds(None, None)).await;
    assert!(
        optional
            .scope(async { !SecurityContext::enforcing() })
            .await
    );
}

#[tokio::test]
async fn the_gate_verifies_an_agent_token_when_one_is_sent_and_the_route_decides() {
    let (auth, _) = default_auth();
    let user = format!("Bearer {}", token(&RSA).roles(&["treasury-service"]).sign());
    let agent = format!(
        "Bearer {}",
        token(&EC256)
            .subject("agent-7")
            .claim("scopes", json!(["treasury:write:*"]))
            .sign()
    );
    let need = Requirement::any_role(["treasury-service"])
        .and(Requirement::agent_scope(["treasury:write:payments"]));
    let run = |agent: Option<String>| {
        let auth = auth.clone();
        let user = user.clone();
        let need = need.clone();
        async move {
            let caller = auth
                .authenticate_request(creds(Some(&user), agent.as_deref()))
                .await
                .expect("the user token is valid");
            caller
                .scope(async move {
                    (
                        SecurityContext::enforce(&need),
                        SecurityContext::enforce(&Requirement::Authenticated),
                        AgentContext::get().and_then(|a| a.sub().map(str::to_owned)),
                    )
                })
                .await
        }
    };
    assert_eq!(
        run(Some(agent.clone())).await,
        (Ok(()), Ok(()), Some("agent-7".to_owned()))
    );
    assert_eq!(
        run(None).await,
        (Err(AuthError::MissingAgentToken), Ok(()), None)
    );
    // An agent token that does not verify: the agent route says so; other routes ignore it.
    let mut bad = agent.clone();
    bad.push('x');
    assert_eq!(
        run(Some(bad)).await,
        (Err(AuthError::InvalidAgentToken), Ok(()), None)
    );
    let wrong = format!(
        "Bearer {}",
        token(&EC256)
            .subject("agent-7")
            .claim("scopes", json!(["billing:*"]))
            .sign()
    );
    assert_eq!(run(Some(wrong)).await.0.unwrap_err().status(), 403);
}

#[tokio::test]
async fn optional_authentication_never_refuses() {
    let (auth, _) = default_auth();
    let user = format!("Bearer {}", token(&RSA).sign());
    for (header, sub) in [
        (None, None),
        (Some("Bearer nope"), None),
        (Some("Basic abc"), None),
        (Some(user.as_str()), Some("user-123")),
    ] {
        let caller = auth.authenticate_optional(creds(header, None)).await;
        let seen = caller
            .scope(async { SecurityContext::get().and_then(|c| c.sub().map(str::to_owned)) })
            .await;
        assert_eq!(seen.as_deref(), sub, "{header:?}");
    }
}
