#![no_main]
//! `cargo +nightly fuzz run jwks`: see fuzz/harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::jwks(data));
