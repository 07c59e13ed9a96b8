#!/usr/bin/env bash
# Run a patentpanel stage through spark-submit:
#   ./spark-submit.sh [--master URL] [--deploy-mode client|cluster] [--conf K=V]...
#                     [--with-packages] [--jars DIR] [--pack-env] [--dry-run] STAGE [stage options]
# A standalone Spark cluster on loopback (master + two one-core workers):
#   ./spark-submit.sh cluster-up | cluster-status | cluster-down
# Creates ./.venv on first use (scripts/bootstrap.sh). ./spark-submit.sh --help lists options.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py="${PATENTPANEL_PYTHON:-$("$root/scripts/bootstrap.sh")}"
case "${1:-}" in
  cluster-up|cluster-down|cluster-status)
    action=${1#cluster-}; shift
    exec "$py" -m patentpanel.cluster "$action" "$@" ;;
esac
exec "$py" -m patentpanel.submit "$@"
