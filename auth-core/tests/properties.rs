//! Property tests: any bytes as a header or a token never verify (and never panic); any
//! single-byte change to a valid token never verifies; requirement evaluation agrees with a
//! reference model written here independently of the core.

mod common;

use common::*;
use portcullis_core::{Authenticator, AuthorizationHeader, Requirement, TokenClaims};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::LazyLock;

static AUTH: LazyLock<Authenticator> = LazyLock::new(|| default_auth().0);

/// Valid tokens of every asymmetric test key.
static TOKENS: LazyLock<Vec<String>> = LazyLock::new(|| {
    [&*RSA, &*EC256, &*EC384, &*ED]
        .into_iter()
        .map(|k| token(k).roles(&["admin"]).sign())
        .collect()
});

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_as_a_header_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let rt = runtime();
        let outcome = rt.block_on(AUTH.authenticate(AuthorizationHeader::One(&bytes)));
        prop_assert!(outcome.is_err());
    }

    #[test]
    fn bearer_and_any_text_never_verify(text in "\\PC{0,400}") {
        let rt = runtime();
        let header = format!("Bearer {text}");
        prop_assert!(rt.block_on(AUTH.authenticate(header.as_str())).is_err());
        prop_assert!(rt.block_on(AUTH.verify_token(&text)).is_err());
    }

    #[test]
    fn token_shaped_garbage_never_verifies(
        a in "[A-Za-z0-9_-]{0,80}",
        b in "[A-Za-z0-9_-]{0,200}",
        c in "[A-Za-z0-9_-]{0,400}",
    ) {
        let rt = runtime();
        let token = format!("{a}.{b}.{c}");
        prop_assert!(rt.block_on(AUTH.verify_token(&token)).is_err());
    }

    #[test]
    fn any_single_byte_change_to_a_valid_token_never_verifies(
        which in 0usize..4,
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let rt = runtime();
        let original = &TOKENS[which];
        prop_assert!(rt.block_on(AUTH.verify_token(original)).is_ok());
        let mut bytes = original.clone().into_bytes();
        let i = position.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(rt.block_on(AUTH.verify_token(&changed)).is_err(), "{} at {}", byte, i);
    }
}

// ----- requirements against a reference model --------------------------------------------

/// A requirement as the model sees it.
#[derive(Debug, Clone)]
enum Model {
    Authenticated,
    AnyRole(Vec<String>),
    AllRoles(Vec<String>),
    AnyGroup(Vec<String>),
    AnyScope(Vec<String>),
    All(Vec<Model>),
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "d"]).prop_map(str::to_owned)
}

fn scope_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "docs",
        "docs:read",
        "docs:write",
        "docs:read:x",
        "docs:*",
        "docs:read:*",
        "*",
        "doc",
        "docsx:read",
    ])
    .prop_map(str::to_owned)
}

fn model() -> impl Strategy<Value = Model> {
    let leaf = prop_oneof![
        Just(Model::Authenticated),
        prop::collection::vec(name(), 0..3).prop_map(Model::AnyRole),
        prop::collection::vec(name(), 0..3).prop_map(Model::AllRoles),
        prop::collection::vec(name(), 0..3).prop_map(Model::AnyGroup),
        prop::collection::vec(scope_name(), 0..3).prop_map(Model::AnyScope),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop::collection::vec(inner, 1..3).prop_map(Model::All)
    })
}

fn to_requirement(m: &Model) -> Requirement {
    match m {
        Model::Authenticated => Requirement::Authenticated,
        Model::AnyRole(r) => Requirement::any_role(r),
        Model::AllRoles(r) => Requirement::all_roles(r),
        Model::AnyGroup(g) => Requirement::any_group(g),
        Model::AnyScope(s) => Requirement::any_scope(s),
        Model::All(all) => all
            .iter()
            .map(to_requirement)
            .fold(Requirement::Authenticated, Requirement::and),
    }
}

/// pico-client-auth's scope rule, restated: equal; granted `*`; granted `p:*` covers `p` and
/// anything below `p:`.
fn grants(granted: &str, required: &str) -> bool {
    if granted == required || granted == "*" {
        return true;
    }
    match granted.strip_suffix(":*") {
        Some(prefix) => {
            required == prefix
                || (required.len() > prefix.len()
                    && required.starts_with(prefix)
                    && required.as_bytes()[prefix.len()] == b':')
        }
        None => false,
    }
}

fn holds(
    m: &Model,
    roles: &BTreeSet<String>,
    groups: &BTreeSet<String>,
    scopes: &BTreeSet<String>,
) -> bool {
    match m {
        Model::Authenticated => true,
        Model::AnyRole(r) => r.iter().any(|x| roles.contains(x)),
        // An empty list admits nobody (fail closed), like every other empty list.
        Model::AllRoles(r) => !r.is_empty() && r.iter().all(|x| roles.contains(x)),
        Model::AnyGroup(g) => g.iter().any(|x| groups.contains(x)),
        Model::AnyScope(s) => s
            .iter()
            .any(|want| scopes.iter().any(|have| grants(have, want))),
        Model::All(all) => all.iter().all(|x| holds(x, roles, groups, scopes)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    #[test]
    fn requirements_agree_with_the_reference_model(
        m in model(),
        roles in prop::collection::btree_set(name(), 0..4),
        groups in prop::collection::btree_set(name(), 0..4),
        scopes in prop::collection::btree_set(scope_name(), 0..4),
    ) {
        let scope_text = scopes.iter().cloned().collect::<Vec<_>>().join(" ");
        let caller = TokenClaims::from_json(json!({
            "sub": "u1",
            "roles": roles,
            "groups": groups,
            "scope": scope_text,
        }));
        let requirement = to_requirement(&m);
        let want = holds(&m, &roles, &groups, &scopes);
        let got = requirement.check(Some(&caller));
        prop_assert_eq!(got.is_ok(), want, "{:?} for {:?}", requirement, got);
        if let Err(e) = got {
            prop_assert_eq!(e.status(), 403);
        }
        // No caller: only the anonymous requirement passes, never these.
        prop_assert_eq!(requirement.check(None).map_err(|e| e.status()), Err(401));
    }
}
