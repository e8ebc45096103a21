#!/usr/bin/env bash
# Build peapod (release) and run `peapod bench` against a private daemon.
# Arguments go to `peapod bench`, e.g.:
#   scripts/bench.sh                      # all phases, default sizes
#   scripts/bench.sh --compare podman     # podman kube play/down of the same pods, interleaved
#   scripts/bench.sh --only start --runs 50
# Needs root (like the daemon). podman is only needed for --compare.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "error: run as root" >&2; exit 1; }
cargo build --quiet --release --bin peapod
tar=$(mktemp --suffix=.tar)
trap 'rm -f -- "$tar"' EXIT
scripts/make-busybox-rootfs.sh "$tar" 2>/dev/null
"${CARGO_TARGET_DIR:-target}/release/peapod" bench --busybox-tar "$tar" "$@"
