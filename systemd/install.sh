#!/usr/bin/env bash
# Installs plantgate as a systemd service: the built app under /opt/plantgate, the unit, the service user,
# the state directory, and a starter /etc/plantgate/plant.yaml (never overwriting an existing one).
# The service is enabled, but started only when `check-config` passes as the service user with the service's
# environment file; otherwise the script says what to fix. Run it again to upgrade (config and state kept).
# On Debian or Ubuntu install the .deb instead (`npm run package`; it bundles its Node runtime): this script
# serves a source checkout on another systemd host that has its own Node >= 20.19.
# Usage: sudo systemd/install.sh [--prefix /opt/plantgate] [--no-start] | --uninstall [--purge]
set -euo pipefail

PREFIX=/opt/plantgate
START=1
UNINSTALL=0
PURGE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --no-start) START=0; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DESTDIR="${DESTDIR:-}"

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo)" >&2
  exit 1
fi

if [ "$UNINSTALL" = 1 ]; then
  # Keeps /etc/plantgate (config, secrets) and /var/lib/plantgate (journal, certificates) unless --purge.
  systemctl disable --now plantgate 2>/dev/null || true
  rm -f "$DESTDIR/etc/systemd/system/plantgate.service" "$DESTDIR/usr/local/bin/plantgate" \
    "$DESTDIR/usr/lib/sysusers.d/plantgate.conf" "$DESTDIR/usr/lib/tmpfiles.d/plantgate.conf"
  rm -rf "$DESTDIR$PREFIX"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$DESTDIR/etc/plantgate" "$DESTDIR/var/lib/plantgate"
    [ -z "$DESTDIR" ] && userdel plantgate 2>/dev/null || true
  fi
  [ -z "$DESTDIR" ] && systemctl daemon-reload || true
  echo "plantgate removed.$([ "$PURGE" = 1 ] || echo ' Kept /etc/plantgate and /var/lib/plantgate (--purge removes them).')"
  exit 0
fi

command -v node >/dev/null || { echo "install.sh: Node.js >= 20.19 is required" >&2; exit 1; }

echo "Building plantgate in $ROOT ..."
(cd "$ROOT" && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund)

echo "Installing to $DESTDIR$PREFIX ..."
install -d "$DESTDIR$PREFIX"
# An upgrade replaces the app whole, so no file of the previous version stays behind.
rm -rf "$DESTDIR$PREFIX/dist" "$DESTDIR$PREFIX/node_modules" "$DESTDIR$PREFIX/config" "$DESTDIR$PREFIX/bin"
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
  echo "Wrote a starter /etc/plantgate/plant.yaml: edit it for your plant."
fi
if [ ! -e "$DESTDIR/etc/plantgate/plantgate.env" ]; then
  install -m 0640 /dev/null "$DESTDIR/etc/plantgate/plantgate.env"
  echo "# Secrets referenced by *_env keys, e.g. CENTRAL_TOKEN=..." > "$DESTDIR/etc/plantgate/plantgate.env"
fi
# The launcher the unit runs; without a bundled runtime under $PREFIX/node it runs the Node on PATH.
install -d "$DESTDIR$PREFIX/bin" "$DESTDIR/usr/local/bin"
sed "s#/opt/plantgate#$PREFIX#g" "$ROOT/packaging/plantgate.sh" > "$DESTDIR$PREFIX/bin/plantgate"
chmod 0755 "$DESTDIR$PREFIX/bin/plantgate"
ln -sf "$PREFIX/bin/plantgate" "$DESTDIR/usr/local/bin/plantgate"

if [ -z "$DESTDIR" ]; then
  systemd-sysusers /usr/lib/sysusers.d/plantgate.conf
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/plantgate.conf
  chgrp plantgate /etc/plantgate/plant.yaml /etc/plantgate/plantgate.env
  systemctl daemon-reload
  # Enabled now; started only with a configuration that checks as the service will see it (its user, its
  # environment file), so the first thing an engineer sees is never a failed service.
  systemctl enable plantgate
  CHECK=(runuser -u plantgate -- "$PREFIX/bin/plantgate" check-config -c /etc/plantgate/plant.yaml --env-file /etc/plantgate/plantgate.env)
  if [ "$START" = 1 ]; then
    if "${CHECK[@]}"; then
      # A restart also applies an upgrade to a running service.
      systemctl restart plantgate
      systemctl --no-pager status plantgate || true
    else
      echo
      echo "plantgate is installed and enabled but NOT started: the configuration does not check yet."
      echo "Edit /etc/plantgate/plant.yaml and put the secrets into /etc/plantgate/plantgate.env, then:"
      echo "  sudo -u plantgate plantgate check-config -c /etc/plantgate/plant.yaml --env-file /etc/plantgate/plantgate.env"
      echo "  sudo systemctl start plantgate"
      exit 0
    fi
  fi
fi
echo "Done. Status: curl -s http://127.0.0.1:9464/status  or  sudo -u plantgate plantgate status"
