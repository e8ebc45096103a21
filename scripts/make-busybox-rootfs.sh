#!/usr/bin/env bash
# make-busybox-rootfs.sh OUT.tar
#
# Build a minimal rootfs tarball from Debian's static busybox (busybox-static)
# for `peapod image import`:
#   /bin/busybox plus one symlink per applet it lists (/bin/sh, /bin/ls, ...),
#   /etc/passwd (root, nobody) and /etc/group, and the usual empty directories
#   (/tmp is 1777, /root 0700).
#
# The tarball is deterministic: sorted entries, fixed mtimes
# (SOURCE_DATE_EPOCH, default 0), numeric owner 0:0, GNU format without
# atime/ctime, so the same busybox binary always yields the same layer digest.
#
# No /etc/nsswitch.conf on purpose: glibc's static NSS in busybox-static
# segfaults when it finds one.
#
# Needs only bash, GNU tar and coreutils. BUSYBOX=/path overrides the binary.
set -euo pipefail

out=${1:?usage: make-busybox-rootfs.sh OUT.tar}
busybox=${BUSYBOX:-/bin/busybox}
epoch=${SOURCE_DATE_EPOCH:-0}

if [[ ! -x $busybox ]]; then
    echo "make-busybox-rootfs: $busybox not found; install busybox-static" >&2
    exit 1
fi

umask 022
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
root=$work/rootfs

mkdir -p "$root"/{bin,etc,proc,sys,dev,root,home,var,tmp,usr/bin}
chmod 0755 "$root" "$root"/{bin,etc,proc,sys,dev,home,var,usr,usr/bin}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

install -m 0755 "$busybox" "$root/bin/busybox"
# One relative symlink per applet, all in /bin (PATH in the image covers it).
while read -r applet; do
    [[ -z $applet || $applet == busybox || $applet == */* ]] && continue
    ln -s busybox "$root/bin/$applet"
done < <("$busybox" --list)

printf '%s\n' \
    'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
printf '%s\n' \
    'root:x:0:' \
    'nogroup:x:65534:' >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"

mkdir -p -- "$(dirname -- "$out")"
tar --create --file="$out.tmp" --directory="$root" \
    --format=gnu --sort=name \
    --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    --no-acls --no-xattrs --no-selinux \
    .
mv -f -- "$out.tmp" "$out"
echo "wrote $out ($(du -h -- "$out" | cut -f1), $(sha256sum -- "$out" | cut -d' ' -f1))" >&2
