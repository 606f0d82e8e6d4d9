//! SecurityContext: scoped, isolated between concurrent tasks, carried explicitly, absent
//! outside a scope.

use portcullis_core::{AuthError, SecurityContext, TokenClaims};
use serde_json::json;
use std::time::Duration;

fn claims(sub: &str) -> TokenClaims {
    TokenClaims::from_json(
        json!({"sub": sub, "roles": [format!("role-{sub}")], "groups": ["g"], "scope": "read a:*"}),
    )
}

fn current_sub() -> Option<String> {
    SecurityContext::get().and_then(|c| c.sub().map(str::to_owned))
}

#[test]
fn empty_outside_any_scope() {
    assert!(SecurityContext::get().is_none());
    assert_eq!(
        SecurityContext::require().unwrap_err(),
        AuthError::NotAuthenticated
    );
    assert!(SecurityContext::roles().is_empty());
    assert!(SecurityContext::groups().is_empty());
    assert!(SecurityContext::scopes().is_empty());
    assert!(!SecurityContext::has_role("x"));
    assert_eq!(
        SecurityContext::require_role(["admin"]).unwrap_err(),
        AuthError::NotAuthenticated
    );
    assert_eq!(
        SecurityContext::require_role(["admin"])
            .unwrap_err()
            .status(),
        401
    );
}

#[tokio::test]
async fn accessors_inside_a_scope() {
    SecurityContext::scope(claims("u1"), async {
        assert_eq!(current_sub().as_deref(), Some("u1"));
        assert_eq!(SecurityContext::roles(), ["role-u1"]);
        assert!(SecurityContext::has_role("role-u1"));
        assert!(SecurityContext::require_role(["nope", "role-u1"]).is_ok());
        let e = SecurityContext::require_role(["admin"]).unwrap_err();
        assert_eq!(
            e.status(),
            403,
            "a handler's own role check is a 403, not a 401"
        );
        assert_eq!(e.detail(), "Requires one of roles: ['admin']");
        assert_eq!(SecurityContext::groups(), ["g"]);
        assert!(SecurityContext::has_group("g"));
        assert!(SecurityContext::require_group(["g"]).is_ok());
        assert_eq!(
            SecurityContext::require_group(["h"]).unwrap_err().detail(),
            "Requires one of groups: ['h']"
        );
        assert!(SecurityContext::has_scope("a:b:c"));
        assert!(SecurityContext::require_scope(["read"]).is_ok());
        assert_eq!(SecurityContext::scopes(), ["read", "a:*"]);
    })
    .await;
    assert!(SecurityContext::get().is_none(), "gone after the scope");
}

#[tokio::test]
async fn anonymous_scope_has_no_caller() {
    SecurityContext::scope(None, async {
        assert!(SecurityContext::get().is_none());
        assert_eq!(
            SecurityContext::require().unwrap_err(),
            AuthError::NotAuthenticated
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_tasks_each_see_their_own() {
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let sub = format!("user-{i}");
        tasks.push(tokio::spawn(SecurityContext::scope(
            claims(&sub),
            async move {
                for step in 0..5 {
                    // Interleave with the other tasks, across both worker threads.
                    tokio::time::sleep(Duration::from_micros((i * 7 + step) % 50)).await;
                    tokio::task::yield_now().await;
                    assert_eq!(
                        current_sub().as_deref(),
                        Some(sub.as_str()),
                        "task {i} step {step}"
                    );
                    assert_eq!(SecurityContext::roles(), [format!("role-{sub}")]);
                }
                i
            },
        )));
    }
    let mut done = 0;
    for t in tasks {
        t.await.unwrap();
        done += 1;
    }
    assert_eq!(done, 1000);
    assert!(SecurityContext::get().is_none());
}

#[tokio::test]
async fn spawned_tasks_inherit_only_when_carried() {
    let (carried, plain) = SecurityContext::scope(claims("parent"), async {
        let carried = tokio::spawn(SecurityContext::carry(async { current_sub() }));
        let plain = tokio::spawn(async { current_sub() });
        (carried.await.unwrap(), plain.await.unwrap())
    })
    .await;
    assert_eq!(carried.as_deref(), Some("parent"));
    assert_eq!(plain, None, "no implicit inheritance");
}

#[tokio::test]
async fn blocking_closures_can_be_bound() {
    let seen = SecurityContext::scope(claims("blocking"), async {
        tokio::task::spawn_blocking(SecurityContext::bind(current_sub))
            .await
            .unwrap()
    })
    .await;
    assert_eq!(seen.as_deref(), Some("blocking"));
}

#[test]
fn sync_scope_and_nesting() {
    SecurityContext::sync_scope(claims("outer"), || {
        assert_eq!(current_sub().as_deref(), Some("outer"));
        SecurityContext::sync_scope(claims("inner"), || {
            assert_eq!(current_sub().as_deref(), Some("inner"));
        });
        assert_eq!(
            current_sub().as_deref(),
            Some("outer"),
            "restored after the inner scope"
        );
        SecurityContext::sync_scope(None, || assert!(SecurityContext::get().is_none()));
    });
    assert!(SecurityContext::get().is_none());
}

#[tokio::test]
async fn context_is_cleared_even_when_the_future_panics() {
    let handle = tokio::spawn(SecurityContext::scope(claims("doomed"), async {
        panic!("handler failure");
    }));
    assert!(handle.await.is_err());
    assert!(SecurityContext::get().is_none());
}
