//! # portcullis-conformance
//!
//! One suite of scenarios, over real HTTP on `127.0.0.1`, that every portcullis adapter must
//! pass: the proof that axum, actix-web and warp (and your adapter) answer the same.
//!
//! ## Running it against your own adapter
//!
//! 1. Implement [`Adapter`]: serve the [reference application](#the-reference-application)
//!    with the given [`Authenticator`](portcullis_core::Authenticator) on the given listener.
//! 2. In a test file, `portcullis_conformance::conformance_tests!(MyAdapter);` inside a module
//!    named after your adapter: one `#[test]` per scenario, named `<module>::<scenario>`.
//!
//! ```ignore
//! struct MyAdapter;
//! impl portcullis_conformance::Adapter for MyAdapter {
//!     const NAME: &'static str = "mine";
//!     fn serve(auth: portcullis_core::Authenticator, listener: std::net::TcpListener) -> portcullis_conformance::Server {
//!         /* start the reference application, return a guard that stops it */
//!         # unimplemented!()
//!     }
//! }
//! mod mine {
//!     portcullis_conformance::conformance_tests!(super::MyAdapter);
//! }
//! ```
//!
//! ## The reference application
//!
//! Requirements as the adapter's own markers; bodies from [`services`].
//!
//! | route | requirement | answer |
//! |---|---|---|
//! | `GET /api/health` | anonymous | [`services::health`] |
//! | `GET /api/me` | authenticated | [`services::profile`] (`SecurityContext` in a service) |
//! | `GET /api/admin/stats` | role `admin` | [`services::admin_stats`] |
//! | `GET /api/editor/drafts` | role `editor` or `admin` | [`services::editor_drafts`] |
//! | `GET /api/audit/report` | roles `auditor` and `admin` | [`services::audit_report`] |
//! | `GET /api/team/board` | group `team-alpha` | [`services::team_board`] |
//! | `POST /api/treasury/payments` | role `treasury-service` and agent scope `treasury:write:*` (`requires_agent_scope`) | [`services::payment`] |
//! | `POST /api/echo` | role `admin`; JSON body | the body |
//! | `GET /api/public/whoami` | anonymous | [`services::whoami`] |
//! | `GET /api/context/nested` | authenticated | [`services::nested`] (two calls deep, across awaits) |
//! | `GET /api/context/spawned` | authenticated | [`services::spawned`] (a spawned task that carried the context) |
//! | `GET /api/handler/check` | authenticated | [`services::handler_check`] (a role check inside the handler) |
//! | `POST /api/health` | authenticated (no marker, on the path of a public route) | `{"posted": true}` |
//! | `GET /api/items/{id}` | anonymous | `{"item": 42}` |
//! | `DELETE /api/items/{id}` | role `admin` | `{"deleted": 42}` |
//! | `GET /api/v1/admin/report` | role `admin`, in a nested router / scope | `{"report": "v1"}` |
//! | `GET /api/v1/me` | authenticated, in a nested router / scope | [`services::profile`] |
//! | `GET /api/docs` | the bearer token's own scope `docs:read` | `{"docs": ["guide"]}` |
//! | `GET /api/macro/admin` | role `admin` (macro-routed in actix-web) | [`services::admin_stats`] |
//! | `GET /api/typed` | authenticated; the typed claims extractor | [`services::typed`] |
//! | `POST /api/account/close` | the token in `Authorization` (`requires_authorization_header`) | `{"closed": true}` |
//! | `POST /api/dpop/transfer` | DPoP (`requires_dpop`): a bound token and its proof | `{"transferred": true, "jkt": ...}` |
//!
//! [`services::Route`] lists them all with their requirements; every handler checks its own
//! requirement when it runs (the oracle), see [`matrix`].

mod harness;
pub mod matrix;
pub mod raw;
pub mod scenarios;
pub mod services;

pub use harness::{Adapter, App, Harness, Keys, Reply, Server, AUDIENCE, KEYS};

/// A scenario: an async function of the harness.
pub type Scenario<A> =
    for<'a> fn(&'a Harness<A>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

/// Runs one scenario against adapter `A` on a fresh runtime and test issuer.
///
/// # Panics
/// When the scenario fails or takes longer than a minute.
pub fn run<A: Adapter>(scenario: Scenario<A>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let harness = Harness::<A>::new().await;
        tokio::time::timeout(std::time::Duration::from_secs(60), scenario(&harness))
            .await
            .expect("scenario timed out");
    });
}

/// Calls `$callback!($($args)* ; <every scenario name>)`: the one list of the catalogue.
#[macro_export]
#[doc(hidden)]
macro_rules! __with_scenarios {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback!($($args)*;
            tutorial_transcript,
            header_missing,
            header_wrong_scheme,
            header_lowercase_bearer,
            header_empty_token,
            header_extra_spaces,
            header_two_authorization_headers,
            token_sources_header_cookie_query,
            token_sources_more_than_one_token_is_invalid_request,
            token_sources_off_by_default,
            issuers_two_at_once_each_with_its_own_keys,
            token_sources_spellings_and_upgrade_rules,
            token_sources_route_requires_authorization_header,
            header_token_over_size_limit,
            header_non_ascii_bytes,
            structure_wrong_segment_count,
            structure_bad_base64,
            structure_header_not_json,
            structure_payload_not_json,
            structure_payload_not_object,
            alg_none_in_every_casing,
            alg_hs256_signed_with_public_key,
            alg_outside_allowlist,
            alg_rs256_with_ec_kid,
            alg_es256_zero_signature,
            key_unknown_kid,
            key_missing_kid,
            key_jku_x5u_jwk_are_never_fetched,
            key_crit_unknown_parameter,
            claims_expired,
            claims_expired_within_leeway,
            claims_nbf_in_future,
            claims_missing_exp,
            claims_wrong_issuer,
            claims_issuer_trailing_slash,
            claims_wrong_audience,
            claims_audience_array_contains_ours,
            claims_typ_mismatch_when_required,
            claims_tampered_payload,
            claims_tampered_signature,
            policy_role_any_of,
            policy_role_all_of,
            policy_group,
            policy_agent_scope_wildcard,
            policy_agent_scope_wrong,
            policy_missing_agent_token,
            policy_invalid_agent_token,
            policy_role_and_agent_scope_combined,
            policy_unknown_route,
            policy_wrong_method,
            policy_role_check_before_body,
            policy_handler_role_check_is_403,
            policy_anonymous_route_sees_valid_caller,
            policy_token_scope,
            route_percent_encoded_path_keeps_its_requirement,
            route_marker_on_one_method_keeps_other_methods,
            route_nested_router_and_path_parameter,
            route_matrix,
            typed_claims_extractor,
            claims_validation_hook,
            context_concurrent_distinct_subjects,
            context_nested_service,
            context_spawned_task,
            context_nothing_left_after_response,
            keyset_rotation_mid_run,
            keyset_issuer_down_with_cached_keys,
            keyset_issuer_down_without_keys,
            keyset_revoked_jti,
            cache_expiry_while_cached,
            cache_revocation_while_cached,
            cache_key_removal_while_cached,
            disabled_mode,
            pq_ml_dsa_65_and_87_accepted_when_listed,
            pq_ml_dsa_rejected_when_not_listed,
            custom_key_source,
            custom_role_resolver,
            error_body_hook,
            challenges_and_no_leaks,
            dpop_bound_token_and_proof_reach_the_handler,
            dpop_hostile_proofs_are_refused,
            dpop_required_refuses_bearer_tokens,
            dpop_off_refuses_bound_tokens,
        );
    };
}

/// One `#[test]` per scenario for `$adapter` (use it inside a module named after the
/// adapter, so failures read `<adapter>::<scenario>`).
#[macro_export]
macro_rules! conformance_tests {
    ($adapter:ty) => {
        $crate::__with_scenarios!(__emit_tests!($adapter));
    };
}

/// The tutorial's scenarios only, for an adapter serving the tutorial-sized application
/// (`/api/health`, `/api/me`, `/api/admin/stats`, `/api/editor/drafts`,
/// `/api/public/whoami`, `POST /api/echo`, `/api/handler/check`): what each adapter crate
/// runs on its own.
#[macro_export]
macro_rules! tutorial_tests {
    ($adapter:ty) => {
        $crate::__emit_tests!($adapter;
            tutorial_transcript,
            header_missing,
            claims_tampered_signature,
            policy_role_any_of,
            policy_unknown_route,
            policy_wrong_method,
            policy_role_check_before_body,
            policy_handler_role_check_is_403,
            policy_anonymous_route_sees_valid_caller,
            context_nothing_left_after_response,
        );
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __emit_tests {
    ($adapter:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::run::<$adapter>(|h| Box::pin($crate::scenarios::$name(h)));
            }
        )*
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __names {
    (; $($name:ident),* $(,)?) => {
        /// The names of every scenario of the catalogue.
        pub const SCENARIOS: &[&str] = &[$(stringify!($name)),*];
    };
}

__with_scenarios!(__names!());
