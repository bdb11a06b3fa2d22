# Atlas Credits: the two commands a new machine needs are `make run` and `make test`.
# Both install what is missing first (scripts/setup.sh; it skips what is already there).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
# The bundle and server are built from source that must not read a live DATABASE_URL at compile time.
export SQLX_OFFLINE := true

.PHONY: setup build run dev lint check-sim-payloads test test-rust bundle-size e2e e2e-negative e2e-postgres bench bench-scale bench-scale-table seed-scale fuzz bench-credit bench-paint clean

## Install missing tools (wasm target, cargo-leptos, wasm-bindgen CLI, npm packages, Chromium).
setup:
	@bash scripts/setup.sh

## Build the release server binary and WASM bundle into target/.
build: setup
	cargo leptos build --release

## Build, then serve on http://127.0.0.1:3000 with the embedded SQLite database (data/).
run: build
	./target/release/atlas-credits serve

## Rebuild and reload on every change (development).
dev: setup
	cargo leptos watch

## Formatting, both clippy builds, the client/server split check, and the cargo-fuzz targets
## type-checked against today's code (fuzz/ is its own workspace; `make fuzz` runs them).
lint: setup
	cargo fmt --check
	cargo clippy --features ssr --all-targets -- -D warnings
	cargo clippy --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings
	cargo check --manifest-path fuzz/Cargo.toml --bins --locked
	bash scripts/check-split.sh
	$(MAKE) --no-print-directory check-sim-payloads

## The Whop simulator's payloads (tests/fixtures/simulator_payloads.json, kept current by
## tests/simulator_payloads.rs) type-checked against @whop/sdk 0.0.42's types with tsc --strict.
check-sim-payloads:
	node scripts/whop-sdk-requests/typecheck-payloads.mjs

## Server-side tests: unit, store contract (SQLite, and PostgreSQL when TEST_POSTGRES_URL is set), HTTP.
## One test at a time: each test runs its own tokio runtime and app, while Leptos's reactive
## runtime and task spawner are process-wide; pages rendered by concurrent runtimes in one process
## were seen to hang now and then (a test-harness artefact: the server, one runtime, rendered
## 1,000 concurrent pages without one). Serial, the whole suite takes about 40 s.
test-rust: setup
	cargo test --features ssr -- --test-threads=1

## The release WASM bundle must stay under its gzipped budget (scripts/check-bundle-size.sh).
bundle-size: build
	bash scripts/check-bundle-size.sh

## Browser tests against the release build on SQLite, then the negative control; then, when
## TEST_POSTGRES_URL names a server (CI sets it), the whole browser suite again on PostgreSQL.
e2e: build
	cd end2end && npx playwright test
	$(MAKE) --no-print-directory e2e-negative
	@if [ -n "$${TEST_POSTGRES_URL:-}" ]; then $(MAKE) --no-print-directory e2e-postgres; \
	else echo "!!! SKIPPED the browser tests on PostgreSQL: TEST_POSTGRES_URL is not set !!!"; fi

## The browser suite against the release build on a fresh PostgreSQL database.
e2e-postgres:
	cd end2end && E2E_DB=postgres E2E_PORT=3920 npx playwright test

## Serves the page without its WASM bundle: the hydration check must notice (see end2end/tests).
e2e-negative:
	cd end2end && E2E_NEGATIVE=1 E2E_PORT=3918 npx playwright test

## One table: the raw ceiling of each database, spend and webhooks over HTTP as ratios to it
## (benches/table.rs; BENCHMARKS.md). A release build. PostgreSQL rows when TEST_POSTGRES_URL is
## set, or when a local server answers on 127.0.0.1:5432 (then the postgres user, trust auth).
bench:
	@url="$${TEST_POSTGRES_URL:-}"; \
	if [ -z "$$url" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
		url=postgres://postgres@127.0.0.1:5432/postgres; fi; \
	TEST_POSTGRES_URL="$$url" cargo bench --features ssr --bench table; \
	cargo bench --features ssr --bench serve

## The hot queries and admin lists at 100,000 users, 1M orders, 5M ledger rows, with their plans
## (benches/scale.rs; BENCHMARKS.md). About 10 minutes.
bench-scale:
	@url="$${TEST_POSTGRES_URL:-}"; \
	if [ -z "$$url" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
		url=postgres://postgres@127.0.0.1:5432/postgres; fi; \
	TEST_POSTGRES_URL="$$url" cargo bench --features ssr --bench scale

## `make bench`'s table again with every database loaded first with the scale data set
## (BENCH_SEED_USERS users, default 100,000: 1,000,000 orders and 5,000,000 ledger rows), and the
## SSR and memory figures on a loaded database. Seeding dominates: about 20 minutes.
bench-scale-table:
	@$(MAKE) --no-print-directory bench BENCH_SEED_USERS=$${BENCH_SEED_USERS:-100000} BENCH_PATHS=spend,webhook

## The cargo-fuzz targets under libFuzzer (AddressSanitizer), FUZZ_SECS each (default 180), on the
## stable toolchain: RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's -Zsanitizer. Corpora are kept in
## target/fuzz-corpus/ between runs. The first build takes tens of minutes. Not part of `test`.
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
	@for t in webhook_verify webhook_payload api_body csv_import; do \
		mkdir -p target/fuzz-corpus/$$t target/fuzz-artifacts/$$t; \
		echo "== $$t"; \
		(cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=../target/fuzz cargo fuzz run $$t ../target/fuzz-corpus/$$t -- \
			-max_total_time=$${FUZZ_SECS:-180} -print_final_stats=1 -artifact_prefix=../target/fuzz-artifacts/$$t/) || exit 1; \
	done

## Loads DATABASE_URL (default: a new SQLite file data/scale.db) with SCALE_USERS users (default
## 100,000), each with 10 paid orders and 50 ledger rows, to run the app on (benches/seed_scale.rs).
seed-scale:
	DATABASE_URL="$${DATABASE_URL:-sqlite://data/scale.db}" cargo bench --features ssr --bench seed_scale

## Time to credit in the browser (figures, not a test; see BENCHMARKS.md). Not part of `test`.
bench-credit: build
	cd end2end && npm run bench:credit

## First paint of /credits for a signed-in user in the browser (figures, not a test; see BENCHMARKS.md).
bench-paint: build
	cd end2end && npm run bench:paint

## Every test there is.
test: lint test-rust bundle-size e2e

clean:
	cargo clean
	rm -rf end2end/node_modules end2end/test-results end2end/.e2e-* end2end/.bench-*
