#!/bin/sh
# The plantgate command: runs the CLI with the Node runtime that ships next to it (the .deb bundles one
# under /opt/plantgate/node), or the Node on PATH for an install from source (systemd/install.sh).
# Installed as /opt/plantgate/bin/plantgate; /usr/bin/plantgate links to it and the unit runs it.
# --expose-gc: the journal forces a collection after long reads to free native iterator buffers
# (src/journal/native-garbage.ts); Node allows the flag only at start.
# --max-semi-space-size=16: Node 24's V8 sizes the young generation from the heap limit and let it reach
# 64-128 MiB here (Node 20: 32 MiB), which is memory the daemon does not need; 16 MiB semi-spaces keep
# Node 20's size, the one the memory figures in the README were measured with.
set -e
app=/opt/plantgate
if [ -x "$app/node/bin/node" ]; then
  exec "$app/node/bin/node" --expose-gc --max-semi-space-size=16 "$app/dist/src/cli.js" "$@"
fi
exec node --expose-gc --max-semi-space-size=16 "$app/dist/src/cli.js" "$@"
