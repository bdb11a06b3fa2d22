#!/usr/bin/env bash
# Installs whatever is missing to build, run and test Atlas Credits, and skips what is already
# there at the right version, so a second run takes seconds. Only package registries are used
# (crates.io, npm, Debian): cargo-leptos finds wasm-bindgen and wasm-opt on PATH and never
# downloads them itself.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
export PATH="$HOME/.cargo/bin:$PWD/end2end/node_modules/.bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    say "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# 1. The WASM target of the machine's toolchain.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The two build tools are installed unoptimised (--debug): they work the same, install in about
# 12 minutes together instead of 20 to 30, and cost only seconds per release build (their slow part,
# wasm-opt, comes from npm). An already installed tool at the right version, optimised or not, is kept.

# 2. cargo-leptos at the pinned version (newer ones refuse this rustc with --locked).
if ! cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION\$"; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION, unoptimised (about 10 minutes on 2 cores)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --debug
fi

# 3. The wasm-bindgen CLI at exactly the version of the crate in Cargo.lock (they must match).
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb_version\$"; then
  say "installing wasm-bindgen-cli $wb_version, unoptimised (about 2 minutes)"
  cargo install wasm-bindgen-cli --version "$wb_version" --locked --debug \
    || cargo install wasm-bindgen-cli --version "$wb_version" --force --debug
fi

# 4. Node.js for the browser tests and wasm-opt (binaryen from npm; Debian's is too old and breaks hydration).
if ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
if [ ! -x end2end/node_modules/.bin/playwright ] || [ ! -x end2end/node_modules/.bin/wasm-opt ] \
  || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing npm packages for end2end/"
  (cd end2end && npm ci --no-audit --no-fund)
fi

# 5. Chromium from the system packages (Playwright drives it; it never downloads its own).
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

say "tools ready: $(cargo leptos --version), $(wasm-bindgen --version), wasm-opt $(wasm-opt --version | awk '{print $3}'), $(/usr/bin/chromium --version 2>/dev/null | head -1)"
