#!/usr/bin/env bash
# Minimal versions: every direct dependency at the lowest version Cargo.toml
# allows (`cargo update -Z direct-minimal-versions`; dependencies of
# dependencies stay at their newest compatible versions), then every target
# with every feature must still build. Runs in a copy of the repository with
# its own target directory, so the lock file and the build cache here are
# untouched. `-Z` needs nightly Cargo: the stable one accepts it with
# RUSTC_BOOTSTRAP=1 for this resolution step only; the build is stable.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/email-webhooks-minimal-versions.XXXXXX)
trap 'rm -rf "$work"' EXIT
git ls-files -z | tar --null -cf - -T - | tar -xf - -C "$work"
cp Cargo.toml "$work/"   # the working copy's, even before it is committed
cd "$work"
RUSTC_BOOTSTRAP=1 cargo update -Z direct-minimal-versions --quiet
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/minimal-versions" \
  cargo check --quiet --all-features --all-targets
echo "minimal versions: every target builds with every direct dependency at its lowest allowed version"
