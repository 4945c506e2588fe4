#!/usr/bin/env bash
# Start a matchmaker process after the checks that WSGI servers and Celery do not run themselves:
#   deploy/entrypoint.sh web|worker|beat|manage ARGS...
set -euo pipefail
cd "$(dirname "$0")/.."
python manage.py check --deploy --fail-level WARNING
case "${1:-}" in
  web)
    python manage.py migrate --no-input
    python manage.py load_hpo
    exec python -m gunicorn matchmaker.wsgi:application --bind "${BIND:-127.0.0.1:8000}" \
      --workers "${WEB_WORKERS:-2}" --access-logfile -
    ;;
  worker) exec celery -A matchmaker worker --loglevel "${LOG_LEVEL:-INFO}" ;;
  beat) exec celery -A matchmaker beat --loglevel "${LOG_LEVEL:-INFO}" ;;
  manage) shift; exec python manage.py "$@" ;;
  *) echo "usage: $0 web|worker|beat|manage ARGS..." >&2; exit 2 ;;
esac
