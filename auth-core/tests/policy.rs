//! Requirements and the per-request decision (`Authenticator::authorize`).

mod common;

use common::*;
use portcullis_core::{AuthConfig, AuthError, Authenticator, Requirement, TokenClaims};
use serde_json::json;

fn caller(v: serde_json::Value) -> TokenClaims {
    TokenClaims::from_json(v)
}

#[test]
fn each_requirement_kind() {
    let admin = caller(
        json!({"sub": "a", "roles": ["admin", "editor"], "groups": ["team-alpha"], "scope": "read treasury:*"}),
    );
    let plain = caller(json!({"sub": "p"}));
    assert!(Requirement::Anonymous.check(None).is_ok());
    assert!(Requirement::Anonymous.check(Some(&plain)).is_ok());
    assert_eq!(
        Requirement::Authenticated.check(None).unwrap_err(),
        AuthError::NotAuthenticated
    );
    assert!(Requirement::Authenticated.check(Some(&plain)).is_ok());

    assert!(Requirement::any_role(["admin", "x"])
        .check(Some(&admin))
        .is_ok());
    let e = Requirement::any_role(["editor", "admin"])
        .check(Some(&plain))
        .unwrap_err();
    assert_eq!(e.detail(), "Requires one of roles: ['admin', 'editor']");
    assert_eq!(e.status(), 403);

    assert!(Requirement::all_roles(["admin", "editor"])
        .check(Some(&admin))
        .is_ok());
    let e = Requirement::all_roles(["admin", "auditor"])
        .check(Some(&admin))
        .unwrap_err();
    assert_eq!(e.detail(), "Requires all of roles: ['admin', 'auditor']");

    assert!(Requirement::any_group(["team-alpha"])
        .check(Some(&admin))
        .is_ok());
    let e = Requirement::any_group(["team-beta"])
        .check(Some(&admin))
        .unwrap_err();
    assert_eq!(e.detail(), "Requires one of groups: ['team-beta']");

    assert!(Requirement::any_scope(["treasury:write:payments"])
        .check(Some(&admin))
        .is_ok());
    assert!(Requirement::any_scope(["read"]).check(Some(&admin)).is_ok());
    let e = Requirement::any_scope(["write"])
        .check(Some(&admin))
        .unwrap_err();
    assert_eq!(
        e,
        AuthError::InsufficientScope {
            required: vec!["write".into()]
        }
    );

    // Empty lists admit nobody.
    assert!(Requirement::any_role(Vec::<String>::new())
        .check(Some(&admin))
        .is_err());
}

#[test]
fn and_combines_and_anonymous_never_weakens() {
    let both = Requirement::any_role(["admin"]).and(Requirement::any_group(["g"]));
    let admin_only = caller(json!({"roles": ["admin"]}));
    let e = both.check(Some(&admin_only)).unwrap_err();
    assert_eq!(e.reason(), "insufficient_group");
    let full = caller(json!({"roles": ["admin"], "groups": ["g"]}));
    assert!(both.check(Some(&full)).is_ok());
    let r = Requirement::Anonymous.and(Requirement::any_role(["admin"]));
    assert_eq!(r, Requirement::AnyRole(vec!["admin".into()]));
    assert!(!r.allows_anonymous());
    let three = both.and(Requirement::Authenticated);
    assert!(matches!(three, Requirement::All(ref v) if v.len() == 3));
}

#[test]
fn scope_wildcards() {
    use portcullis_core::scope_matches as m;
    assert!(m("a:b:c", "a:b:c"));
    assert!(m("*", "anything:at:all"));
    assert!(m("a:b:*", "a:b"));
    assert!(m("a:b:*", "a:b:c"));
    assert!(m("a:b:*", "a:b:c:d"));
    assert!(!m("a:b:*", "a:bc"));
    assert!(!m("a:b:*", "a"));
    assert!(!m("a:b", "a:b:c"));
    assert!(
        !m("a:*:c", "a:b:c"),
        "mid-segment wildcards are not supported"
    );
    assert!(
        !m("a:b:c", "a:b:*"),
        "a required wildcard is matched literally"
    );
}

#[tokio::test]
async fn authorize_decides_per_request() {
    let (auth, _) = default_auth();
    let admin = format!("Bearer {}", token(&RSA).roles(&["admin"]).sign());
    let user = format!("Bearer {}", token(&RSA).sign());
    let bad = format!("Bearer {}", token(&RSA).tamper_signature().sign());
    let need_admin = Requirement::any_role(["admin"]);

    let c = auth
        .authorize(Some(admin.as_str()), &need_admin)
        .await
        .unwrap();
    assert_eq!(
        c.and_then(|c| c.sub().map(str::to_owned)).as_deref(),
        Some("user-123")
    );
    let e = auth
        .authorize(Some(user.as_str()), &need_admin)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_response().body,
        r#"{"detail":"Requires one of roles: ['admin']"}"#
    );
    assert_eq!(
        auth.authorize(None, &need_admin).await.unwrap_err(),
        AuthError::MissingToken
    );
    assert_eq!(
        auth.authorize(Some(bad.as_str()), &Requirement::Authenticated)
            .await
            .unwrap_err(),
        AuthError::BadSignature
    );

    // Anonymous: never rejects; sees a valid caller, ignores an invalid token.
    assert!(auth
        .authorize(None, &Requirement::Anonymous)
        .await
        .unwrap()
        .is_none());
    assert!(auth
        .authorize(Some(bad.as_str()), &Requirement::Anonymous)
        .await
        .unwrap()
        .is_none());
    assert!(auth
        .authorize(Some("Basic x"), &Requirement::Anonymous)
        .await
        .unwrap()
        .is_none());
    assert!(auth
        .authorize(Some(user.as_str()), &Requirement::Anonymous)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn disabled_lets_everything_through_anonymously() {
    let auth = Authenticator::builder(AuthConfig::builder().enabled(false).build().unwrap())
        .build()
        .unwrap();
    assert!(!auth.config().enabled());
    for header in [None, Some("Bearer garbage"), Some("Basic x")] {
        for r in [
            Requirement::Authenticated,
            Requirement::any_role(["admin"]),
            Requirement::Anonymous,
        ] {
            assert!(matches!(auth.authorize(header, &r).await, Ok(None)));
        }
    }
}

#[test]
fn every_empty_list_admits_nobody() {
    let caller = TokenClaims::from_json(serde_json::json!({
        "sub": "u1", "roles": ["admin"], "groups": ["g"], "scope": "s"
    }));
    let none: [&str; 0] = [];
    for requirement in [
        Requirement::any_role(none),
        Requirement::all_roles(none),
        Requirement::any_group(none),
        Requirement::any_scope(none),
    ] {
        assert_eq!(
            requirement.check(Some(&caller)).map_err(|e| e.status()),
            Err(403),
            "{requirement:?}"
        );
    }
}

#[test]
fn authorization_header_requirement_fails_closed_when_the_source_is_unknown() {
    use portcullis_core::{AuthError, Requirement, TokenClaims, TokenSource};
    let claims = TokenClaims::from_json(serde_json::json!({"sub": "u", "roles": ["admin"]}));
    let r = Requirement::AuthorizationHeader.and(Requirement::any_role(["admin"]));
    assert_eq!(
        r.check_from(Some(&claims), None, Some(TokenSource::AuthorizationHeader)),
        Ok(())
    );
    for source in [
        Some(TokenSource::Cookie),
        Some(TokenSource::Header),
        Some(TokenSource::Query),
        None,
    ] {
        assert_eq!(
            r.check_from(Some(&claims), None, source),
            Err(AuthError::TokenSourceNotAllowed),
            "{source:?}"
        );
    }
    // Without a source at all (a check by hand), the requirement refuses.
    assert_eq!(
        Requirement::AuthorizationHeader.check(Some(&claims)),
        Err(AuthError::TokenSourceNotAllowed)
    );
}
