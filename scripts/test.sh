#!/usr/bin/env bash
# Run every test: unit tests, and end-to-end tests with real runc, CNI
# plugins and kubectl (each test starts its own daemon). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "error: the tests need root (namespaces, mounts, cgroups)" >&2; exit 1; }
scripts/install-deps.sh
cargo test --workspace --no-fail-fast "$@"
