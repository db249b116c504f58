#!/bin/bash
# Run the whole test suite with Debian's python3; non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 -m pytest -p no:cacheprovider "$@" tests
