#!/usr/bin/env bash
# bench-pull.sh [RUNS]
#
# Pull + unpack time of a ~100 MB, 5-layer image from a loopback registry:
# `peapod image pull` (through a peapod daemon) beside `podman pull` of the
# same image, interleaved, RUNS times each (default 5), medians printed.
# Also the peapod daemon's peak RSS during the pulls, above its idle RSS,
# for this image and for a ~21 MB one with as many layers (streamed pulls:
# the peak must not grow with the image).
#
# Needs root, docker-registry, skopeo, umoci, podman and busybox-static
# (scripts/install-deps.sh installs all but podman). PEAPOD=/path/to/peapod
# picks the binary (default: target/release/peapod, else target/debug).
# Everything runs on 127.0.0.1 in a temp dir and is removed at the end.
set -euo pipefail

RUNS=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
PEAPOD=${PEAPOD:-}
if [[ -z $PEAPOD ]]; then
    for p in "${CARGO_TARGET_DIR:-$repo/target}/release/peapod" "${CARGO_TARGET_DIR:-$repo/target}/debug/peapod"; do
        [[ -x $p ]] && { PEAPOD=$p; break; }
    done
fi
for tool in docker-registry skopeo umoci podman; do
    command -v "$tool" >/dev/null || { echo "bench-pull: $tool is required" >&2; exit 1; }
done
[[ -x ${PEAPOD:-} ]] || { echo "bench-pull: no peapod binary (build it or set PEAPOD)" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-pull.XXXXXX)
registry_pid= daemon_pid=
cleanup() {
    rm -f "$work/sampling"
    [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    [[ -n $registry_pid ]] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
    podman rmi -f "${big_ref:-none}" "${small_ref:-none}" >/dev/null 2>&1 || true
    if [[ -n ${KEEP:-} ]]; then echo "kept $work" >&2; else rm -rf -- "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# --- images: busybox + 4 layers of 5 x 5 MiB random files (~100 MB), and
# busybox + 4 layers of one 5 MiB file (~21 MB), built with umoci.
echo "building test images..." >&2
"$here/make-busybox-rootfs.sh" "$work/bb.tar" 2>/dev/null
mkdir -p "$work/bb" && tar -xf "$work/bb.tar" -C "$work/bb"
O=$work/oci
umoci init --layout "$O"
umoci new --image "$O:base"
umoci insert --image "$O:base" "$work/bb" /
umoci config --image "$O:base" --config.cmd sh --config.env PATH=/bin --architecture amd64 --os linux
for l in 1 2 3 4; do
    mkdir -p "$work/data/l$l"
    for f in 1 2 3 4 5; do head -c 5M /dev/urandom >"$work/data/l$l/f$f.bin"; done
done
# The small image has as many layers (one 5 MiB file each), so the RSS
# comparison holds the parallelism equal and varies only the size.
umoci tag --image "$O:base" small
for l in 1 2 3 4; do umoci insert --image "$O:small" "$work/data/l$l/f1.bin" "/data/s$l.bin"; done
umoci tag --image "$O:base" big
for l in 1 2 3 4; do umoci insert --image "$O:big" "$work/data/l$l" "/data/l$l"; done
umoci gc --layout "$O"

# --- registry
rport=$(free_port)
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $work/registry/data}
http: {addr: 127.0.0.1:$rport}
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$rport/v2/" >/dev/null && break; sleep 0.05; done
big_ref=127.0.0.1:$rport/bench/big:v1
small_ref=127.0.0.1:$rport/bench/small:v1
skopeo copy --quiet --dest-tls-verify=false "oci:$O:big" "docker://$big_ref"
skopeo copy --quiet --dest-tls-verify=false "oci:$O:small" "docker://$small_ref"
big_bytes=$(skopeo inspect --raw --tls-verify=false "docker://$big_ref" | python3 -c \
    'import json,sys; m=json.load(sys.stdin); print(sum(l["size"] for l in m["layers"]), len(m["layers"]))')

# --- peapod daemon (no pod network: only the image store is exercised)
dport=$(free_port)
"$PEAPOD" serve --no-cni --listen "127.0.0.1:$dport" --data-dir "$work/peapod/data" \
    --state-dir "$work/peapod/state" --kubeconfig-out "$work/peapod/kubeconfig" \
    --cgroup-root "/peapod-bench-$$" --node-name bench --log-level warn >"$work/peapod.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do [[ -s $work/peapod/kubeconfig ]] && break; sleep 0.05; done
export KUBECONFIG=$work/peapod/kubeconfig
"$PEAPOD" image ls >/dev/null

rss() { awk '/^VmRSS/{print $2}' "/proc/$daemon_pid/status"; }
# Sample the daemon's RSS every 10 ms while $work/sampling exists.
sample() {
    local max=0 v
    while [[ -e $work/sampling ]]; do
        v=$(rss); ((v > max)) && max=$v
        sleep 0.01
    done
    echo "$max" >"$work/peak"
}

peapod_pull() { # REF -> prints "ms peak_kib"
    "$PEAPOD" image rm "$1" >/dev/null 2>&1 || true
    "$PEAPOD" image prune -a -f >/dev/null 2>&1 || true
    sync
    touch "$work/sampling"; sample & local sampler=$!
    local t0; t0=$(now_ms)
    "$PEAPOD" image pull -q "$1" >/dev/null
    local t1; t1=$(now_ms)
    rm -f "$work/sampling"; wait "$sampler"
    echo "$((t1 - t0)) $(cat "$work/peak")"
}
podman_pull() { # REF -> prints ms
    podman rmi -f "$1" >/dev/null 2>&1 || true
    sync
    local t0; t0=$(now_ms)
    podman pull -q --tls-verify=false "$1" >/dev/null
    local t1; t1=$(now_ms)
    echo "$((t1 - t0))"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
idle=$(rss)
# One untimed round each: warm caches (registry files, binaries) for both.
peapod_pull "$big_ref" >/dev/null
podman_pull "$big_ref" >/dev/null
: >"$work/peapod.ms"; : >"$work/podman.ms"; : >"$work/peak.big"
for i in $(seq "$RUNS"); do
    # Alternate who goes first, so neither always meets a cold cache.
    if ((i % 2)); then
        read -r ms peak < <(peapod_pull "$big_ref"); echo "$ms" >>"$work/peapod.ms"; echo "$peak" >>"$work/peak.big"
        podman_pull "$big_ref" >>"$work/podman.ms"
    else
        podman_pull "$big_ref" >>"$work/podman.ms"
        read -r ms peak < <(peapod_pull "$big_ref"); echo "$ms" >>"$work/peapod.ms"; echo "$peak" >>"$work/peak.big"
    fi
    echo "run $i: peapod $(tail -1 "$work/peapod.ms") ms, podman $(tail -1 "$work/podman.ms") ms" >&2
done
: >"$work/peak.small"
for i in $(seq "$RUNS"); do
    read -r _ peak < <(peapod_pull "$small_ref"); echo "$peak" >>"$work/peak.small"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

read -r bytes layers <<<"$big_bytes"
echo "image: $big_ref, $layers layers, $bytes bytes compressed; runs: $RUNS each, interleaved"
printf 'peapod image pull: median %s ms (min %s, max %s)\n' "$(median <"$work/peapod.ms")" \
    "$(sort -n "$work/peapod.ms" | head -1)" "$(sort -n "$work/peapod.ms" | tail -1)"
printf 'podman pull:       median %s ms (min %s, max %s)\n' "$(median <"$work/podman.ms")" \
    "$(sort -n "$work/podman.ms" | head -1)" "$(sort -n "$work/podman.ms" | tail -1)"
printf 'peapod daemon RSS: idle %s KiB; peak during pulls: ~100 MB image %s KiB, ~21 MB image %s KiB\n' \
    "$idle" "$(sort -n "$work/peak.big" | tail -1)" "$(sort -n "$work/peak.small" | tail -1)"
