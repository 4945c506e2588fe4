# Shared by the bench scripts that run the node on a PostgreSQL database of their own
# (mme_load.sh, web_pages.sh, scale_out.sh, fuzz.sh). Sourced, not run; the caller has set ROOT,
# cd'ed there and put .venv/bin on PATH.
#
#   bench_node_environment NAME DATABASE DATA_FOLDER
#       exports the settings of a production-like node on plain HTTP (DEBUG off, no TLS
#       redirect, a bench-only secret key, mail dropped) on that database and data folder, with
#       the gene catalogue source shared from the dev node's var/reference (not patient data).
#   bench_prepare_database
#       creates the database if it is missing, migrates it and loads the HPO and the genes.
#       Safe to run again.

bench_node_environment() {
  local name="$1" database="$2" data_folder="$3"
  env -u DATA_DIR "$ROOT/scripts/fetch-reference-data"
  mkdir -p "$data_folder"
  if [ -d "$ROOT/var/reference" ] && [ ! -e "$data_folder/reference" ]; then
    ln -s "$ROOT/var/reference" "$data_folder/reference"
  fi
  export POSTGRES_HOST="${POSTGRES_HOST:-127.0.0.1}"
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  export POSTGRES_DB="$database"
  export DATA_DIR="$data_folder"
  # No per-query SQL log as with DEBUG=True, templates cached. gunicorn and the test client run
  # no system checks, so the bench-only key and the missing TLS are accepted.
  export DEBUG=False
  export SECURE_SSL_REDIRECT=False
  export SECRET_KEY="$name-bench-only-not-a-secret"
  export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend
}

bench_prepare_database() {
  if ! psql -h "$POSTGRES_HOST" -U "$POSTGRES_USER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$POSTGRES_DB'" | grep -q 1; then
    echo "Creating database $POSTGRES_DB"
    createdb -h "$POSTGRES_HOST" -U "$POSTGRES_USER" "$POSTGRES_DB"
  fi
  python manage.py migrate --no-input --verbosity 0
  python manage.py load_hpo >/dev/null
  python manage.py load_genes --if-missing >/dev/null
}
