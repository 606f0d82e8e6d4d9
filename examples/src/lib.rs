//! The tutorial's Protected API, in each framework, sharing one framework-free service layer.
//!
//! - [`services`]: the tutorial's `UserService`, reading the caller from the
//!   `SecurityContext` (no HTTP in sight).
//! - [`apps`]: the controllers, once per framework: same endpoints, same answers.
//! - [`dev_issuer`]: the embedded development issuer and the ready-to-paste `curl` lines.

pub mod apps;
pub mod dev_issuer;
pub mod services;
