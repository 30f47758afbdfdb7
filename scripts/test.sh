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

step "MSRV: dependencies, resolver and README (scripts/msrv.py)"
python3 scripts/msrv.py

step "cargo deny: licenses, duplicate versions, sources (deny.toml)"
if command -v cargo-deny >/dev/null 2>&1; then
  # Advisories are not checked: their database is on GitHub, out of CI's reach.
  cargo deny --log-level error check licenses bans sources
else
  echo "cargo-deny is not installed: cargo install --locked cargo-deny@0.20.2 (.ci/run does)" >&2
  exit 1
fi

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --all-targets --all-features -- -D warnings

step "cargo clippy (no default features, -D warnings)"
cargo clippy --lib --no-default-features -- -D warnings


# Every feature set a user can pick builds its tests and documents without
# a warning (checked, not run: running them adds nothing the all-features
# run below does not; the no-features set also runs).
no_warnings() {
  local out
  out=$("$@" 2>&1) || { printf '%s\n' "$out"; return 1; }
  if grep -q '^warning' <<<"$out"; then
    printf '%s\n' "$out" | grep -A8 '^warning'
    echo "warnings from: $*"
    return 1
  fi
}

step "each feature set (none, each alone): tests compile and docs build without warnings"
for feature in "" cli worker sqlite redis postgres axum actix-web tracing metrics; do
  flags=(--no-default-features)
  [ -n "$feature" ] && flags+=(--features "$feature")
  echo "  features: ${feature:-none}"
  no_warnings cargo test --no-run "${flags[@]}"
  no_warnings env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps "${flags[@]}"
done

step "cargo test with no features"
cargo test --no-default-features

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

step "the use-case examples run"
cargo run --quiet --all-features --example suppression
cargo run --quiet --all-features --example crm_on_click
cargo run --quiet --all-features --example follow_up_on_open
cargo run --quiet --all-features --example replicas_postgres   # on the PostgreSQL started above

step "minimal versions of the direct dependencies (scripts/minimal-versions.sh)"
bash scripts/minimal-versions.sh

step "cargo package: the published crate builds from its own tarball"
# Cargo notes each test and bench it leaves out (they are not published).
packaged=$(cargo package --quiet --allow-dirty --all-features 2>&1) || { printf '%s\n' "$packaged"; exit 1; }
printf '%s\n' "$packaged" | grep -v '^warning: ignoring \(test\|benchmark\)' || true
crate=$(ls "${CARGO_TARGET_DIR:-target}"/package/email-webhooks-*.crate)
listing=$(tar -tzf "$crate")
if grep -E '/(tests|fuzz|benches|\.ci|scripts)/' <<<"$listing"; then
  echo "the package holds files it should not" >&2
  exit 1
fi
for file in README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE src/lib.rs; do
  grep -qx "email-webhooks-[^/]*/$file" <<<"$listing" || { echo "the package lacks $file" >&2; exit 1; }
done
echo "  $(basename "$crate"): $(wc -l <<<"$listing") files, $(du -k "$crate" | cut -f1) KiB"

step "fuzz targets compile (stable check of the cargo-fuzz workspace)"
cargo check --manifest-path fuzz/Cargo.toml --bins

step "all checks passed"
