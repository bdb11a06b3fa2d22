#!/usr/bin/env bash
# The WASM bundle must never contain server-only crates: fails if the hydrate dependency tree
# holds any of them (they would mean a server module or dependency leaked into the client).
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden="^(sqlx|sqlx-core|tokio|axum|axum-core|reqwest|hyper|tower-http|leptos_axum|secrecy|hmac|sha2${EXTRA_FORBIDDEN:+|$EXTRA_FORBIDDEN})$"
leaks=$(cargo tree --features hydrate --no-default-features --target wasm32-unknown-unknown -e normal,no-proc-macro --prefix none --format '{p}' \
  | awk '{print $1}' | sort -u | grep -E "$forbidden" || true)
if [ -n "$leaks" ]; then
  echo "server-only crates in the hydrate (WASM) dependency tree:" >&2
  echo "$leaks" >&2
  exit 1
fi
echo "client/server split: the hydrate tree holds none of sqlx, tokio, axum, reqwest, hyper, tower-http, leptos_axum, secrecy, hmac, sha2"
