#!/usr/bin/env bash
# The whole test suite, as the README promises and CI runs it:
# formatting, lints, feature combinations, tests with all features (the
# stores against real Redis and PostgreSQL servers that scripts/services.sh
# installs if needed and starts on 127.0.0.1), docs, benches and examples
# compile, fuzz corpus replayed (tests/fuzz_corpus.rs, on stable).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --all-targets --all-features -- -D warnings

step "cargo clippy (no default features, -D warnings)"
cargo clippy --lib --no-default-features -- -D warnings

step "each feature builds alone"
for feature in cli worker sqlite redis postgres axum actix-web tracing metrics; do
  cargo check --lib --no-default-features --features "$feature"
done

step "start Redis and PostgreSQL on 127.0.0.1 for the store tests"
# shellcheck source=scripts/services.sh
source scripts/services.sh
trap stop_services EXIT

step "cargo test (all features; doc tests, the fuzz corpus replay, stores on real servers)"
cargo test --all-features

step "cargo doc (RUSTDOCFLAGS=-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

step "benches and examples compile"
cargo build --all-features --benches --examples

step "fuzz targets compile (stable check of the cargo-fuzz workspace)"
cargo check --manifest-path fuzz/Cargo.toml --bins

step "all checks passed"
