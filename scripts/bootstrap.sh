#!/usr/bin/env bash
# Creates ./.venv on first use (or when setup.py changed) and installs patentpanel into
# it with the dev extras. Idempotent: a stamp file holds the hash of setup.py.
# Usage: scripts/bootstrap.sh   (prints the venv's python path on stdout)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${PATENTPANEL_VENV:-$root/.venv}"
py="${PYTHON:-python3}"
stamp="$venv/.patentpanel-installed"
want=$(cat "$root/setup.py" | sha256sum | cut -c1-16)
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv" >&2
  "$py" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing patentpanel and its dependencies (first run: ~2 minutes)" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip "setuptools<81" wheel >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[dev,cluster]" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
