//! # portcullis-core
//!
//! The framework-free core of portcullis: everything needed to accept OAuth2 / OpenID Connect
//! bearer tokens safely, with no HTTP framework (and no `http` crate type) in its API.
//! Adapters for axum, actix-web and warp translate; every decision is taken here.
//!
//! | part | what it does |
//! |---|---|
//! | [`AuthConfig`] | `auth_client` configuration from YAML, environment or code; validated at once |
//! | [`Authenticator`] | verifies a token (header, algorithm allowlist, key, signature, claims) and decides per request |
//! | [`KeySource`], [`KeySet`], [`StaticKeys`] | where keys come from; each key parsed once and bound to its algorithms |
//! | [`TokenClaims`], [`RoleResolver`] | the verified caller: typed claims, roles, groups, scopes |
//! | [`Requirement`], [`markers`] | anonymous, authenticated, roles (any / all), groups, token scopes, agent scopes (wildcards), AND |
//! | [`AuthError`] | one error type; each knows its status, `WWW-Authenticate` and JSON body |
//! | [`dpop`] | DPoP (RFC 9449) sender-constrained tokens: proofs, thumbprints, replay stores (in memory, Redis) |
//! | [`SecurityContext`], [`AgentContext`] | the current caller (and agent), task-local, anywhere in the code serving a request |
//! | [`testkit`] (feature `testkit`) | keys, JWKS, token minting (hostile ones too), a manual clock |
//!
//! ## Features
//!
//! | feature | default | |
//! |---|---|---|
//! | `remote` | yes | key sets from the issuer (OIDC discovery, `jwks_endpoint`), rotation, outages, revocation denylist |
//! | `redis` | no | a DPoP replay store in Redis, shared by every instance of a service |
//! | `testkit` | no | test helpers for your own tests; with `remote`, a local test issuer |
//!
//! ## Verifying a token in non-HTTP code
//!
//! ```
//! use portcullis_core::{AuthConfig, Authenticator, StaticKeys};
//! # use portcullis_core::testkit::{TestKey, TokenBuilder};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let key = TestKey::rsa("2024-01");
//! # let jwks_json = TestKey::jwks(&[&key]);
//! # let token = TokenBuilder::new(&key).issuer("https://auth.example.com")
//! #     .audience("my-api").subject("user-123").sign();
//! // `jwks_json` is the issuer's published key set, kept locally.
//! let config = AuthConfig::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("my-api")
//!     .build()?;
//! let auth = Authenticator::builder(config)
//!     .key_source(StaticKeys::from_jwks(&jwks_json)?)
//!     .build()?;
//!
//! let claims = auth.verify_token(&token).await?;
//! assert_eq!(claims.sub(), Some("user-123"));
//! # Ok(())
//! # }
//! ```
//!
//! ## The caller anywhere: `SecurityContext`
//!
//! ```
//! use portcullis_core::{AuthError, SecurityContext, TokenClaims};
//!
//! struct UserService;
//!
//! impl UserService {
//!     fn get_profile(&self) -> Result<serde_json::Value, AuthError> {
//!         let claims = SecurityContext::require()?;
//!         Ok(serde_json::json!({
//!             "sub": claims.sub(),
//!             "email": claims.email(),
//!             "org_id": claims.org_id(),
//!             "roles": SecurityContext::roles(),
//!         }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // An adapter does this around every handler; here by hand.
//! let caller = TokenClaims::from_json(serde_json::json!({
//!     "sub": "user-123", "email": "user@example.com", "org_id": "org-1", "roles": ["admin"]
//! }));
//! let profile = SecurityContext::scope(caller, async { UserService.get_profile() }).await.unwrap();
//! assert_eq!(profile["roles"], serde_json::json!(["admin"]));
//! # }
//! ```

mod agent;
mod algorithm;
mod authenticator;
mod b64;
mod cache;
mod claim_path;
mod claims;
mod clock;
pub mod config;
mod context;
pub mod dpop;
mod error;
mod jws;
mod keys;
mod policy;
#[cfg(feature = "remote")]
pub mod remote;
mod resolver;
mod strict_json;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use agent::{AgentClaims, AgentContext, Caller, AGENT_AUTHORIZATION};
pub use algorithm::{Algorithm, AlgorithmSet, Curve, KeyFamily, UnknownAlgorithm};
pub use authenticator::{Authenticator, AuthenticatorBuilder, Readiness, SetupError};
pub use claim_path::{ClaimPath, InvalidClaimPath};
pub use claims::TokenClaims;
pub use clock::{Clock, SystemClock};
pub use config::{AuthConfig, AuthConfigBuilder, ConfigError, ConfigProblem, Secret};
pub use context::SecurityContext;
pub use error::{AuthError, ErrorResponse, Malformed};
pub use jws::{
    AuthorizationHeader, DpopRequest, RequestCredentials, RequestParts, TokenSource, TokenSources,
};
pub use keys::{
    JwksError, KeyError, KeyLookup, KeySet, KeySource, KeyStatus, KeysUnavailable, RefreshFuture,
    SkippedKey, StaticKeys, VerifyingKey, MAX_KEYS,
};
pub use policy::{any_scope_matches, markers, scope_matches, Requirement};
pub use resolver::{Authorities, ClaimPathResolver, RoleResolver};
