#!/usr/bin/env bash
# Builds (once) the Debian 12 root the systemd test boots under systemd-nspawn, and prints its path.
# Cached outside the repository, keyed by a hash of what goes into it (suite, mirror, package list, this
# script), so CI pays for debootstrap only when that changes. Packages come from the Debian mirror this
# machine's apt already uses (the only mirror CI can reach).
# Usage: sudo edge-tests/systemd/bookworm-root.sh   (prints the root's path on stdout; progress on stderr)
set -euo pipefail

SUITE=bookworm
# systemd as PID 1, journald, procps (kill, as on any Debian system), a broker and client for the MQTT
# check, curl for /status.
PACKAGES=systemd,systemd-sysv,dbus,procps,mosquitto,mosquitto-clients,curl,ca-certificates
CACHE="${PLANTGATE_CI_CACHE:-/var/cache/plantgate-ci}"

mirror() {
  local m=""
  if [ -d /etc/apt/sources.list.d ]; then
    m="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)"
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m="$(grep -E '^deb ' /etc/apt/sources.list | grep -v security | awk '{print $2}' | head -1 || true)"
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

MIRROR="$(mirror)"
# Bump LAYOUT when the steps below change what the root holds.
LAYOUT=1
key="$(echo "$SUITE $MIRROR $PACKAGES $LAYOUT" | sha256sum | cut -c1-16)"
root="$CACHE/$SUITE-$key"
if [ -f "$root/.complete" ]; then
  echo "$root"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "bookworm-root: debootstrap is not installed (apt install debootstrap)" >&2; exit 3; }
[ "$(id -u)" -eq 0 ] || { echo "bookworm-root: debootstrap needs root" >&2; exit 3; }

mkdir -p "$CACHE"
work="$root.tmp.$$"
trap 'rm -rf "$work"' EXIT
echo "bookworm-root: debootstrap $SUITE from $MIRROR into $root (once; cached)" >&2
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work" "$MIRROR" >&2
# Boot quickly and quietly in a container: no getty on a console nobody reads, no network wait.
chroot "$work" systemctl mask console-getty.service getty@tty1.service systemd-networkd-wait-online.service >&2 || true
echo plantgate-ci > "$work/etc/hostname"
# The downloaded .debs are installed; keeping them would only double the cache.
rm -f "$work/var/cache/apt/archives/"*.deb
touch "$work/.complete"
# Older roots of this suite (other keys) are stale once a new one exists.
for old in "$CACHE/$SUITE-"*; do
  [ "$old" = "$work" ] || [ "$old" = "$root" ] || rm -rf "$old"
done
# A concurrent run may have finished the same root first: keep that one.
if [ -f "$root/.complete" ]; then
  rm -rf "$work"
else
  rm -rf "$root"
  mv "$work" "$root"
fi
trap - EXIT
echo "$root"
