#!/usr/bin/env bash
# Serves the release build for the browser tests on its own port and a fresh database per run:
# SQLite by default; with E2E_DB=postgres a new database on TEST_POSTGRES_URL (dropped first if a
# previous run left it). E2E_NEGATIVE=1 points the page at a bundle folder that does not exist (the
# negative control: the page must then render without ever hydrating, and the tests must notice).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${E2E_PORT:-3917}"
dir="end2end/.e2e-$port"
rm -rf "$dir" && mkdir -p "$dir"
case "${E2E_DB:-sqlite}" in
  sqlite)
    export DATABASE_URL="sqlite://$dir/e2e.db"
    ;;
  postgres)
    : "${TEST_POSTGRES_URL:?E2E_DB=postgres needs TEST_POSTGRES_URL (a server where it may create a database)}"
    name="atlas_e2e_$port"
    psql "$TEST_POSTGRES_URL" -q -v ON_ERROR_STOP=1 \
      -c "drop database if exists $name with (force)" -c "create database $name" >/dev/null
    export DATABASE_URL="${TEST_POSTGRES_URL%/*}/$name"
    ;;
  *)
    echo "E2E_DB must be sqlite or postgres" >&2
    exit 2
    ;;
esac
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
# The browser test of the host app (end2end/tests/host_app.spec.ts) plays Atlas on this port + 1000.
export HOST_APP_ORIGINS="${HOST_APP_ORIGINS:-http://127.0.0.1:$((port + 1000))}"
# ...and receives its webhooks there, on loopback, which production refuses by default.
export HOST_WEBHOOKS_ALLOW_PRIVATE=true
if [ "${E2E_NEGATIVE:-0}" = 1 ]; then
  export LEPTOS_SITE_PKG_DIR=no-such-bundle
fi
exec ./target/release/atlas-credits serve
