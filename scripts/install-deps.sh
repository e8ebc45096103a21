#!/usr/bin/env bash
# Install what peapod needs on a Debian machine (root): runc, CNI plugins,
# iptables, busybox-static (for the demo/test image), and build tools.
set -euo pipefail
pkgs=(runc containernetworking-plugins iptables iproute2 busybox-static curl ca-certificates gcc libc6-dev util-linux)
# Image tests: a loopback registry (docker-registry), pushes and archives (skopeo),
# OCI layouts for scripts/bench-pull.sh (umoci), htpasswd for registry auth (apache2-utils).
pkgs+=(docker-registry skopeo umoci apache2-utils)
# API tests: the official Python client (PyPI's `kubernetes`), against /usr/bin/python3.
pkgs+=(python3-kubernetes)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q "${missing[@]}" >/dev/null; }
fi
command -v cargo >/dev/null || { echo "error: cargo (Rust) is required" >&2; exit 1; }
