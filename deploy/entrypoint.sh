#!/usr/bin/env bash
# The one way a matchmaker process is started in production: the systemd units, the compose file
# and deploy/try-by-hand.sh all run this script, with one of these roles:
#
#   deploy/entrypoint.sh web                 check, migrate, collectstatic, reference data, gunicorn
#   deploy/entrypoint.sh worker              Celery worker of the default queue (prefork)
#   deploy/entrypoint.sh federation-worker   Celery worker of FEDERATION_QUEUE (thread pool)
#   deploy/entrypoint.sh beat                Celery beat: one per deployment, never two
#   deploy/entrypoint.sh manage ARGS...      python manage.py ARGS (no check: for diagnosis)
#
# On a systemd host, run management commands with deploy/manage.sh (the units' user, settings
# and credentials); in the compose stack, `docker compose exec web deploy/entrypoint.sh manage`.
#
# WSGI servers and Celery run no Django system checks, so every role except `manage` first runs
# `manage.py check --deploy --fail-level WARNING`: a production configuration that still has the
# development key, SQLite, in-process Celery or a weak security setting never starts.
# Settings come from the environment (.env.example lists them all, with these scripts' own ones).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# A checkout with its virtual environment (systemd, by hand); the image installs into the system.
if [ -x "$ROOT/.venv/bin/python" ]; then
  export PATH="$ROOT/.venv/bin:$PATH"
fi
export PYTHONUNBUFFERED=1
# systemd credentials (LoadCredential=secret_key:/etc/...) become the NAME_FILE variables that
# settings.py reads (env_secret), unless a unit set them already.
if [ -n "${CREDENTIALS_DIRECTORY:-}" ]; then
  for credential in "$CREDENTIALS_DIRECTORY"/*; do
    name="$(basename "$credential")"
    [[ -f "$credential" && "$name" =~ ^[a-z][a-z0-9_]*$ ]] || continue
    variable="$(echo "$name" | tr '[:lower:]' '[:upper:]')_FILE"
    if [ -z "${!variable:-}" ]; then
      export "$variable=$credential"
    fi
  done
fi

DATA_DIR="${DATA_DIR:-$ROOT/var}"
LOG_LEVEL="${LOG_LEVEL:-INFO}"
role="${1:-}"

check() {
  python manage.py check --deploy --fail-level WARNING
}

# Migrations, static files and reference data, once per host at a time: two web processes
# started together on one host wait for each other here instead of migrating twice. Web
# processes on other hosts are not covered: upgrade one web host first (docs/operations.md).
prepare_web() {
  mkdir -p "$DATA_DIR"
  (
    flock 9
    python manage.py migrate --no-input
    python manage.py collectstatic --no-input --verbosity 0
    # Compiles the HPO into DATA_DIR/hpo-cache the first time (about 10 s), so web workers and
    # Celery workers then load it in a fraction of a second.
    python manage.py load_hpo
    python manage.py load_genes --if-missing
  ) 9>"$DATA_DIR/.web-start.lock"
}

case "$role" in
  web)
    check
    prepare_web
    exec gunicorn --config "$ROOT/deploy/gunicorn.conf.py" matchmaker.wsgi:application
    ;;
  worker)
    check
    # Prefork children are replaced after WORKER_MAX_TASKS_PER_CHILD tasks (memory held by
    # numpy arrays of one big task is returned); each new child loads the reference data first.
    exec celery -A matchmaker worker \
      --queues "${CELERY_TASK_DEFAULT_QUEUE:-celery}" \
      --concurrency "${WORKER_CONCURRENCY:-2}" \
      --max-tasks-per-child "${WORKER_MAX_TASKS_PER_CHILD:-1000}" \
      --hostname "${WORKER_NAME:-worker}@%h" \
      --loglevel "$LOG_LEVEL"
    ;;
  federation-worker)
    if [ -z "${FEDERATION_QUEUE:-}" ]; then
      echo "FEDERATION_QUEUE is empty: peer queries go to the default queue, served by" \
        "'deploy/entrypoint.sh worker'; this role has nothing to do." >&2
      exit 2
    fi
    check
    # Peer queries wait on the network: threads take many at once, and a hanging peer holds
    # one thread, not a process.
    exec celery -A matchmaker worker \
      --queues "$FEDERATION_QUEUE" \
      --pool threads \
      --concurrency "${FEDERATION_WORKER_CONCURRENCY:-32}" \
      --hostname "${FEDERATION_WORKER_NAME:-federation}@%h" \
      --loglevel "$LOG_LEVEL"
    ;;
  beat)
    check
    mkdir -p "$DATA_DIR"
    # The schedule file records when each job last ran; it lives in DATA_DIR because the
    # working directory is read-only under the systemd units.
    exec celery -A matchmaker beat \
      --schedule "$DATA_DIR/celerybeat-schedule" \
      --loglevel "$LOG_LEVEL"
    ;;
  manage)
    shift
    exec python manage.py "$@"
    ;;
  *)
    echo "usage: $0 web|worker|federation-worker|beat|manage ARGS..." >&2
    exit 2
    ;;
esac
