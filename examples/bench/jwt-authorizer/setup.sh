#!/usr/bin/env bash
# Builds target/peer/release/loadbench-jwt-authorizer: the Protected API's GET /api/me behind
# jwt-authorizer 0.15, for `loadbench --jwt-authorizer`. A crate outside the workspace (its
# dependencies, axum 0.7 and jsonwebtoken 9 among them, are the peer's, not ours), pinned by
# its own Cargo.lock.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cargo build --release --locked --quiet \
  --manifest-path "$root/examples/bench/jwt-authorizer/Cargo.toml" --target-dir "$root/target/peer"
echo "ready: cargo run --release -p portcullis-examples --bin loadbench -- --jwt-authorizer $root/target/peer/release/loadbench-jwt-authorizer"
