#!/usr/bin/env bash
# Makes target/pico-venv: Python 3 with the tutorial's stack (pico-client-auth 0.7.1 on
# FastAPI and uvicorn), for `loadbench --pico target/pico-venv/bin/python`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
venv="$root/target/pico-venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$(dirname "$0")/requirements.txt"
echo "ready: cargo run --release -p portcullis-examples --bin loadbench -- --pico $venv/bin/python"
