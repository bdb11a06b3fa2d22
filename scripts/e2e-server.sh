#!/usr/bin/env bash
# Serves the release build for the browser tests: a fresh SQLite database per run, its own port.
# E2E_NEGATIVE=1 points the page at a bundle folder that does not exist (the negative control:
# the page must then render without ever hydrating, and the tests must notice).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${E2E_PORT:-3917}"
dir="end2end/.e2e-$port"
rm -rf "$dir" && mkdir -p "$dir"
export DATABASE_URL="sqlite://$dir/e2e.db"
export LEPTOS_SITE_ADDR="127.0.0.1:$port"
export LEPTOS_ENV=PROD
export RUST_LOG="${RUST_LOG:-warn,atlas_credits=info}"
export WHOP_WEBHOOK_SECRET="${WHOP_WEBHOOK_SECRET:-ws_e2e_test_secret}"
# Test mode, chosen explicitly, with a known simulator key so the browser tests can create checkouts.
export WHOP_MODE=simulated
export WHOP_SIM_API_KEY="${WHOP_SIM_API_KEY:-sim_e2e_key}"
# Specs that sign up many users give each test its own X-Forwarded-For, so the per-address
# sign-up limit (10 an hour) is not spent by the whole suite from 127.0.0.1.
export TRUST_PROXY=true
if [ "${E2E_NEGATIVE:-0}" = 1 ]; then
  export LEPTOS_SITE_PKG_DIR=no-such-bundle
fi
exec ./target/release/atlas-credits serve
