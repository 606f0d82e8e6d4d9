//! Keys and revocation from the network (feature `remote`, on by default).

mod fetch;
mod keys;
mod revocation;

pub use fetch::{FetchError, HttpFetcher, MAX_RESPONSE_BYTES};
pub use keys::{jwks_uri_from_discovery, RemoteKeys};
pub use revocation::RevocationList;
