#!/bin/sh
# The plantgate command: runs the CLI with the Node runtime that ships next to it (the .deb bundles one
# under /opt/plantgate/node), or the Node on PATH for an install from source (systemd/install.sh).
# Installed as /opt/plantgate/bin/plantgate; /usr/bin/plantgate links to it and the unit runs it.
set -e
app=/opt/plantgate
if [ -x "$app/node/bin/node" ]; then
  exec "$app/node/bin/node" "$app/dist/src/cli.js" "$@"
fi
exec node "$app/dist/src/cli.js" "$@"
