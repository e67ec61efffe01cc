#!/usr/bin/env bash
# Installs plantgate as a systemd service: the built app under /opt/plantgate, the unit, the service user,
# the state directory, and a starter /etc/plantgate/plant.yaml (never overwriting an existing one).
# Usage: sudo systemd/install.sh [--prefix /opt/plantgate] [--no-start]
set -euo pipefail

PREFIX=/opt/plantgate
START=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --no-start) START=0; shift ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DESTDIR="${DESTDIR:-}"

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo)" >&2
  exit 1
fi
command -v node >/dev/null || { echo "install.sh: Node.js >= 20.19 is required" >&2; exit 1; }

echo "Building plantgate in $ROOT ..."
(cd "$ROOT" && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund)

echo "Installing to $DESTDIR$PREFIX ..."
install -d "$DESTDIR$PREFIX"
cp -a "$ROOT/dist" "$ROOT/node_modules" "$ROOT/package.json" "$ROOT/README.md" "$ROOT/config" "$DESTDIR$PREFIX/"
if [ "$PREFIX" != /opt/plantgate ]; then
  sed "s#/opt/plantgate#$PREFIX#g" "$ROOT/systemd/plantgate.service" > "$ROOT/.tmp-plantgate.service"
  install -D -m 0644 "$ROOT/.tmp-plantgate.service" "$DESTDIR/etc/systemd/system/plantgate.service"
  rm -f "$ROOT/.tmp-plantgate.service"
else
  install -D -m 0644 "$ROOT/systemd/plantgate.service" "$DESTDIR/etc/systemd/system/plantgate.service"
fi
install -D -m 0644 "$ROOT/systemd/plantgate.sysusers" "$DESTDIR/usr/lib/sysusers.d/plantgate.conf"
install -D -m 0644 "$ROOT/systemd/plantgate.tmpfiles" "$DESTDIR/usr/lib/tmpfiles.d/plantgate.conf"
install -d -m 0750 "$DESTDIR/etc/plantgate"
if [ ! -e "$DESTDIR/etc/plantgate/plant.yaml" ]; then
  install -m 0640 "$ROOT/config/starter.yaml" "$DESTDIR/etc/plantgate/plant.yaml"
  echo "Wrote a starter /etc/plantgate/plant.yaml: edit it, then: plantgate check-config -c /etc/plantgate/plant.yaml"
fi
if [ ! -e "$DESTDIR/etc/plantgate/plantgate.env" ]; then
  install -m 0640 /dev/null "$DESTDIR/etc/plantgate/plantgate.env"
  echo "# Secrets referenced by *_env keys, e.g. CENTRAL_TOKEN=..." > "$DESTDIR/etc/plantgate/plantgate.env"
fi
install -d "$DESTDIR/usr/local/bin"
ln -sf "$PREFIX/dist/src/cli.js" "$DESTDIR/usr/local/bin/plantgate"
chmod +x "$DESTDIR$PREFIX/dist/src/cli.js"

if [ -z "$DESTDIR" ]; then
  systemd-sysusers /usr/lib/sysusers.d/plantgate.conf
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/plantgate.conf
  chgrp plantgate /etc/plantgate/plant.yaml /etc/plantgate/plantgate.env
  systemctl daemon-reload
  if [ "$START" = 1 ]; then
    systemctl enable --now plantgate
    systemctl --no-pager status plantgate || true
  fi
fi
echo "Done. Status: curl -s http://127.0.0.1:9464/status  or  sudo -u plantgate plantgate status"
