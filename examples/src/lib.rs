//! The Protected API of `docs/tutorial.md` (after pico-client-auth's tutorial), in each framework, sharing one framework-free service layer.
//!
//! - [`services`]: the `UserService` (pico-client-auth's tutorial's), reading the caller from the
//!   `SecurityContext` (no HTTP in sight).
//! - [`apps`]: the controllers, once per framework: same endpoints, same answers.
//! - [`dev_issuer`]: the embedded development issuer and the ready-to-paste `curl` lines.

pub mod apps;
pub mod dev_issuer;
pub mod grpc;
pub mod services;

/// Compiles (and, where not `no_run`, runs) every Rust block of `docs/tutorial.md`.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tutorial.md")]
pub struct TutorialDoctests;
