#!/usr/bin/env bash
# Run a management command on a systemd host as the units run the node: their user, working
# directory, settings file and credentials (read from the installed matchmaker-web.service), in
# a transient systemd service, through deploy/entrypoint.sh manage.
#
#   sudo /opt/matchmaker/deploy/manage.sh createsuperuser
#   sudo /opt/matchmaker/deploy/manage.sh remap_case_terms --dry-run
#
# Exits with the command's status. MATCHMAKER_UNIT names another unit file to read.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UNIT="${MATCHMAKER_UNIT:-}"
if [ -z "$UNIT" ]; then
  UNIT="$(systemctl show --property FragmentPath --value matchmaker-web.service 2>/dev/null || true)"
fi
if [ -z "$UNIT" ] || [ ! -f "$UNIT" ]; then
  echo "matchmaker-web.service is not installed (docs/operations.md, Install); set MATCHMAKER_UNIT" >&2
  exit 2
fi
properties=()
while IFS= read -r line; do
  case "$line" in
    User=* | Group=* | WorkingDirectory=* | EnvironmentFile=* | LoadCredential=*)
      properties+=(--property "$line")
      ;;
  esac
done <"$UNIT"
# A terminal for interactive commands (createsuperuser, shell); pipes otherwise (cron, scripts).
io=--pipe
if [ -t 0 ] && [ -t 1 ]; then
  io=--pty
fi
exec "${SYSTEMD_RUN:-systemd-run}" --quiet --wait --collect --service-type=exec "$io" \
  "${properties[@]}" "$ROOT/deploy/entrypoint.sh" manage "$@"
