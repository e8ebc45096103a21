#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, build peapod,
# start the daemon, import a busybox image made from Debian's busybox-static,
# run examples/my-web.yaml (two containers sharing one network namespace)
# and show it. The daemon keeps running afterwards; see the end of the output.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "error: run as root" >&2; exit 1; }
scripts/install-deps.sh
echo "==> building peapod"
cargo build --quiet --bin peapod
install -m 0755 target/debug/peapod /usr/local/bin/peapod
mkdir -p /var/lib/peapod /var/log

if ! curl -sk --max-time 2 https://127.0.0.1:6443/healthz >/dev/null 2>&1; then
  echo "==> starting the daemon (log: /var/log/peapod.log)"
  setsid nohup /usr/local/bin/peapod serve >>/var/log/peapod.log 2>&1 </dev/null &
  echo $! > /run/peapod.pid
  for _ in $(seq 1 100); do
    curl -sk --max-time 1 https://127.0.0.1:6443/healthz >/dev/null 2>&1 && [ -f /etc/peapod/kubeconfig ] && break
    sleep 0.1
  done
fi
curl -sk --max-time 2 https://127.0.0.1:6443/healthz >/dev/null || { echo "error: the daemon did not start; see /var/log/peapod.log" >&2; tail -20 /var/log/peapod.log >&2; exit 1; }

echo "==> importing busybox:latest from busybox-static"
scripts/make-busybox-rootfs.sh /var/lib/peapod/busybox-rootfs.tar >/dev/null
peapod image import /var/lib/peapod/busybox-rootfs.tar busybox:latest
peapod image ls

echo "==> peapod apply -f examples/my-web.yaml"
peapod apply -f examples/my-web.yaml
for _ in $(seq 1 100); do
  [ "$(peapod get pod my-web -o jsonpath='{.status.phase}')" = Running ] && break
  sleep 0.1
done
sleep 3
echo "==> peapod get pods -o wide"
peapod get pods -o wide
echo "==> peapod logs my-web -c client   (fetched over 127.0.0.1 from the server container)"
peapod logs my-web -c client --tail 3
echo "==> kubectl --kubeconfig /etc/peapod/kubeconfig get pods"
if command -v kubectl >/dev/null; then kubectl --kubeconfig /etc/peapod/kubeconfig get pods; else echo "(kubectl not installed)"; fi
cat <<'MSG'

peapod is running (pid in /run/peapod.pid, log in /var/log/peapod.log).
Try: peapod describe pod my-web; peapod apply -f examples/busy-pod.yaml
Clean up: peapod delete -f examples/my-web.yaml --grace-period=1 && kill $(cat /run/peapod.pid)
MSG
