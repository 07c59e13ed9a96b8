#!/usr/bin/env bash
# Run a patentpanel stage through spark-submit:
#   ./spark-submit.sh [--master URL] [--deploy-mode client|cluster] [--conf K=V]...
#                     [--with-packages] [--jars DIR] [--pack-env] [--dry-run] STAGE [stage options]
# Creates ./.venv on first use (scripts/bootstrap.sh). ./spark-submit.sh --help lists options.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py="${PATENTPANEL_PYTHON:-$("$root/scripts/bootstrap.sh")}"
exec "$py" -m patentpanel.submit "$@"
