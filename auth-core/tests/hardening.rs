//! Issue 11's leniencies, each closed and pinned: duplicate claims, fractional dates, `aud`
//! and `crit` types, the `Bearer` syntax, agent tokens that are callers' tokens, an empty
//! payload, and hostile configuration documents.

mod common;

use base64::Engine;
use common::*;
use portcullis_core::testkit::TestKey;
use portcullis_core::{
    AuthConfig, AuthError, AuthorizationHeader, Malformed, RequestCredentials, Requirement,
    SecurityContext,
};
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token signed by `key` over exactly these header and payload texts.
fn signed_raw(key: &TestKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    format!("{input}.{}", b64(&key.sign(input.as_bytes())))
}

fn rs_header() -> String {
    format!(r#"{{"alg":"RS256","kid":"{}"}}"#, RSA.kid())
}

fn payload(extra: &str) -> String {
    format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"u1","iat":{NOW},"exp":{}{extra}}}"#,
        NOW + 300
    )
}

async fn verify(token: &str) -> Result<portcullis_core::TokenClaims, AuthError> {
    let (auth, _) = default_auth();
    auth.verify_token(token).await
}

#[tokio::test]
async fn the_raw_helper_makes_valid_tokens() {
    let claims = verify(&signed_raw(&RSA, &rs_header(), &payload(""))).await;
    assert_eq!(claims.expect("valid").sub(), Some("u1"));
}

#[tokio::test]
async fn duplicate_claim_names_are_refused_at_any_depth() {
    for extra in [
        r#","sub":"admin""#,
        r#","roles":["user"],"roles":["admin"]"#,
        r#","realm_access":{"roles":["user"],"roles":["admin"]}"#,
        r#","\u0073ub":"admin""#,
    ] {
        let token = signed_raw(&RSA, &rs_header(), &payload(extra));
        assert_eq!(
            verify(&token).await.unwrap_err(),
            AuthError::Malformed(Malformed::DuplicateMember),
            "{extra}"
        );
    }
}

#[tokio::test]
async fn fractional_dates_round_toward_refusal() {
    let (auth, _) = authenticator(config().leeway_seconds(30), &[&RSA]);
    let with = |name: &str, value: f64| token(&RSA).claim(name, json!(value)).sign();
    let now = NOW as f64;
    // Half a second past the leeway is past it.
    assert_eq!(
        auth.verify_token(&with("nbf", now + 30.5))
            .await
            .unwrap_err(),
        AuthError::NotYetValid
    );
    assert_eq!(
        auth.verify_token(&with("iat", now + 30.5))
            .await
            .unwrap_err(),
        AuthError::IssuedInFuture
    );
    assert!(auth.verify_token(&with("nbf", now + 29.5)).await.is_ok());
    // `exp` half a second beyond the leeway's edge has expired.
    assert_eq!(
        auth.verify_token(&with("exp", now - 30.0 + 0.5))
            .await
            .unwrap_err(),
        AuthError::Expired
    );
    assert!(auth
        .verify_token(&with("exp", now - 29.0 + 0.5))
        .await
        .is_ok());
}

#[tokio::test]
async fn an_aud_list_with_a_non_string_member_is_malformed() {
    for aud in [json!([5, AUD]), json!([AUD, null]), json!([AUD, {"x": 1}])] {
        let t = token(&RSA).claim("aud", aud.clone()).sign();
        assert_eq!(
            verify(&t).await.unwrap_err(),
            AuthError::Malformed(Malformed::ClaimType),
            "{aud}"
        );
    }
    assert!(verify(&token(&RSA).claim("aud", json!(["x", AUD])).sign())
        .await
        .is_ok());
}

#[tokio::test]
async fn crit_present_in_any_form_is_refused() {
    for crit in [json!(null), json!([]), json!(["exp"]), json!("b64")] {
        let t = token(&RSA).header("crit", crit.clone()).sign();
        assert_eq!(
            verify(&t).await.unwrap_err(),
            AuthError::UnsupportedCritical,
            "{crit}"
        );
    }
}

#[tokio::test]
async fn the_bearer_scheme_takes_spaces_only() {
    let (auth, _) = default_auth();
    let t = token(&RSA).sign();
    assert!(auth
        .authenticate(format!("Bearer {t}").as_str())
        .await
        .is_ok());
    assert!(auth
        .authenticate(format!("bearer   {t}").as_str())
        .await
        .is_ok());
    for bad in [
        format!("Bearer\t{t}"),
        format!("Bearer \t{t}"),
        format!("Bearer {t} "),
        format!("Bearer {t}\t"),
        format!(" Bearer {t}"),
    ] {
        assert!(auth.authenticate(bad.as_str()).await.is_err(), "{bad:?}");
    }
    // The bare token path is as strict about whitespace.
    assert!(auth.verify_token(&format!("{t} ")).await.is_err());
    assert!(auth.verify_token(&format!(" {t}")).await.is_err());
}

#[tokio::test]
async fn an_empty_payload_is_a_payload_problem_not_a_structure_problem() {
    let header = b64(rs_header().as_bytes());
    let input = format!("{header}.");
    let token = format!("{input}.{}", b64(&RSA.sign(input.as_bytes())));
    assert_eq!(
        verify(&token).await.unwrap_err(),
        AuthError::Malformed(Malformed::Payload)
    );
    assert_eq!(
        verify(&format!(".{}.sig", b64(b"{}"))).await.unwrap_err(),
        AuthError::Malformed(Malformed::SegmentCount)
    );
}

fn creds<'a>(user: &'a str, agent: &'a str) -> RequestCredentials<'a> {
    RequestCredentials::new(
        AuthorizationHeader::from(user),
        AuthorizationHeader::from(agent),
    )
}

async fn agent_outcome(
    auth: &portcullis_core::Authenticator,
    user: &str,
    agent: &str,
) -> Result<(), AuthError> {
    let caller = auth.authenticate_request(creds(user, agent)).await?;
    caller
        .scope(async { SecurityContext::enforce(&Requirement::agent_scope(["pay"])) })
        .await
}

#[tokio::test]
async fn the_callers_own_token_is_not_an_agent_token() {
    let (auth, _) = default_auth();
    let both = token(&RSA).claim("scopes", json!(["pay"])).sign();
    let header = format!("Bearer {both}");
    assert_eq!(
        agent_outcome(&auth, &header, &header).await,
        Err(AuthError::InvalidAgentToken)
    );
    let agent = format!(
        "Bearer {}",
        token(&EC256)
            .subject("agent-1")
            .claim("scopes", json!(["pay"]))
            .sign()
    );
    assert_eq!(agent_outcome(&auth, &header, &agent).await, Ok(()));
}

#[tokio::test]
async fn agent_tokens_can_be_required_to_be_agent_tokens() {
    let (auth, _) = authenticator(
        config()
            .agent_require_typ("agent+jwt")
            .agent_required_claims(["task_type"]),
        &[&RSA, &EC256],
    );
    let user = format!("Bearer {}", token(&RSA).sign());
    let agent = |typ: Option<&str>, task: bool| {
        let mut b = token(&EC256)
            .subject("agent-1")
            .claim("scopes", json!(["pay"]));
        if let Some(typ) = typ {
            b = b.header("typ", json!(typ));
        }
        if task {
            b = b.claim("task_type", json!("payment"));
        }
        format!("Bearer {}", b.sign())
    };
    assert_eq!(
        agent_outcome(&auth, &user, &agent(Some("agent+jwt"), true)).await,
        Ok(())
    );
    // A user-style token (no agent typ) is not an agent.
    assert_eq!(
        agent_outcome(&auth, &user, &agent(None, true)).await,
        Err(AuthError::InvalidAgentToken)
    );
    assert_eq!(
        agent_outcome(&auth, &user, &agent(Some("JWT"), true)).await,
        Err(AuthError::InvalidAgentToken)
    );
    assert_eq!(
        agent_outcome(&auth, &user, &agent(Some("agent+jwt"), false)).await,
        Err(AuthError::InvalidAgentToken)
    );
    // And an agent's token is not a caller's.
    let agent_as_user = agent(Some("agent+jwt"), true);
    assert_eq!(
        auth.authenticate(agent_as_user.as_str()).await.unwrap_err(),
        AuthError::WrongType
    );
    let same = AuthConfig::builder()
        .issuer(ISS)
        .audience(AUD)
        .require_typ("at+jwt")
        .agent_require_typ("at+jwt")
        .build()
        .unwrap_err();
    assert!(same.to_string().contains("agent_require_typ"), "{same}");
}

#[test]
fn a_yaml_document_over_the_alias_budget_is_refused() {
    // Valid YAML that an application could never need: 1,500 aliases in an ignored section.
    let mut doc = String::from("shared: &s x\nother:\n");
    for i in 0..1_500 {
        doc.push_str(&format!("  k{i}: *s\n"));
    }
    doc.push_str("auth_client:\n  issuer: https://auth.example.com\n  audience: api\n");
    let error = AuthConfig::builder().yaml_str(&doc).build().unwrap_err();
    assert!(error.to_string().contains("(document)"), "{error}");
    // The same document with few aliases is fine.
    let small = "shared: &s x\nother:\n  a: *s\nauth_client:\n  issuer: https://auth.example.com\n  audience: api\n";
    assert!(AuthConfig::builder().yaml_str(small).build().is_ok());
}

#[test]
fn an_alias_bomb_is_refused() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\nauth_client:\n  issuer: https://auth.example.com\n  audience: api\n";
    let error = AuthConfig::builder().yaml_str(bomb).build().unwrap_err();
    assert!(error.to_string().contains("not valid YAML"), "{error}");
}

#[test]
fn a_configuration_document_over_one_mebibyte_is_refused_unread() {
    let doc = format!("# {}\nauth_client: {{}}\n", "x".repeat(1 << 20));
    let error = AuthConfig::builder().yaml_str(&doc).build().unwrap_err();
    assert!(error.to_string().contains("larger than"), "{error}");
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_exhausting_the_stack() {
    // serde_json's recursion limit (128) holds for the strict payload parser too.
    let deep = format!("{}1{}", "[".repeat(2_000), "]".repeat(2_000));
    let token = signed_raw(&RSA, &rs_header(), &payload(&format!(r#","x":{deep}"#)));
    assert_eq!(
        verify(&token).await.unwrap_err(),
        AuthError::Malformed(Malformed::Payload)
    );
    // In the header, unknown members are skipped without being built: a deep one costs a
    // linear scan and nothing else (the issuer signed it; nothing reads it).
    let header = format!(r#"{{"alg":"RS256","kid":"{}","x":{deep}}}"#, RSA.kid());
    let token = signed_raw(&RSA, &header, &payload(""));
    assert!(verify(&token).await.is_ok());
    // Deep and unsigned: refused before any key is touched.
    let unsigned = format!("{}.{}.AA", b64(header.as_bytes()), b64(b"{}"));
    assert!(verify(&unsigned).await.is_err());
}
