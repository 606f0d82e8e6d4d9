#![no_main]
//! `cargo +nightly fuzz run bearer_header`: see fuzz/harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::bearer_header(data));
