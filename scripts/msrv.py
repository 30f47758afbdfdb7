#!/usr/bin/env python3
"""The MSRV checks that can run with only the installed stable toolchain.

No toolchain older than the installed stable can be installed on the CI
machines, so the stated `rust-version` is checked in the ways that do not need
one: every package in the lock file (all features, dev-dependencies included)
declares a `rust-version` no newer than ours, the manifest keeps the
MSRV-aware resolver (edition 2024's default, resolver 3), and the README states
the same version. Clippy's `incompatible_msrv` lint, which reads
`rust-version`, runs in the clippy step and flags any standard-library API
newer than it.
"""
import json
import re
import subprocess
import sys


def version(text):
    parts = [int(p) for p in text.split(".")[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


metadata = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
ours = next(p for p in metadata["packages"] if p["name"] == "email-webhooks")
msrv = ours["rust_version"]
newer = sorted(
    f"{p['name']} {p['version']} needs {p['rust_version']}"
    for p in metadata["packages"]
    if p.get("rust_version") and version(p["rust_version"]) > version(msrv)
)
manifest = open("Cargo.toml").read()
resolver = re.search(r'^resolver\s*=\s*"(\d+)"', manifest, re.M)
edition = ours["edition"]
readme = open("README.md").read()
problems = list(newer)
if resolver and resolver.group(1) != "3":
    problems.append(f"resolver {resolver.group(1)} is not MSRV-aware (use 3)")
if not resolver and edition != "2024":
    problems.append(f"edition {edition} without resolver = \"3\" is not MSRV-aware")
if f"MSRV {msrv}" not in readme:
    problems.append(f"README.md does not state MSRV {msrv}")
print(f"rust-version {msrv}: {len(metadata['packages'])} packages checked")
for problem in problems:
    print(f"  {problem}")
sys.exit(1 if problems else 0)
