#!/bin/bash
# make demo: install everything, bring up the end-to-end lab, crash a compute host, print the
# recovery timeline.  "scripts/demo.sh stop" stops a lab left running by --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it starts daemons in network namespaces)" >&2; exit 1; }
if [ "${1:-}" = stop ]; then
    exec /usr/bin/python3 scripts/demo.py --stop
fi
scripts/install-test-deps.sh
make -s install
exec /usr/bin/python3 scripts/demo.py "$@"
