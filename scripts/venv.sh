#!/usr/bin/env bash
# Creates .venv (once) and installs the project with the extras given, e.g. `scripts/venv.sh server`.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-server}"
stamp=".venv/.installed-${extras//,/-}-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[${extras}]"
  touch "$stamp"
fi
