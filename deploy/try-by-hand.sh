#!/usr/bin/env bash
# Try the production recipe on this machine without Docker or systemd: start by hand the same
# commands the systemd units and the compose file run, behind nginx with a self-signed
# certificate, check what a new operator would check, then stop everything it started.
#
#   deploy/try-by-hand.sh            (as root: nginx listens on 80 and 443)
#
# Needs PostgreSQL and Redis on this machine (as .ci/run starts them) and installs nginx with
# apt-get when it is missing. Everything else lives in a temporary folder: a production
# configuration made from .env.example, the certificate, DATA_DIR, the logs. The database
# matchmaker_try_<pid> is created and dropped again; Redis database TRY_REDIS_DB (13) is
# flushed at the end. KEEP=1 keeps the folder (logs) afterwards. Exit status 1 if a check failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -x "$ROOT/.venv/bin/python" ]; then
  export PATH="$ROOT/.venv/bin:$PATH"
fi

HTTP_PORT="${HTTP_PORT:-80}"
HTTPS_PORT="${HTTPS_PORT:-443}"
WEB_BIND="${WEB_BIND:-127.0.0.1:8000}"
TRY_REDIS_DB="${TRY_REDIS_DB:-13}"
PG_HOST="${POSTGRES_HOST:-127.0.0.1}"
PG_USER="${POSTGRES_USER:-postgres}"
TRY_DB="matchmaker_try_$$"

if ! command -v nginx >/dev/null; then
  echo "Installing nginx"
  apt-get install -y nginx >/dev/null || { apt-get update -qq && apt-get install -y nginx >/dev/null; }
fi
for port in "$HTTP_PORT" "$HTTPS_PORT" "${WEB_BIND##*:}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "Port $port is in use; stop what listens there (or set HTTP_PORT/HTTPS_PORT/WEB_BIND)." >&2
    exit 2
  fi
done

WORK="$(mktemp -d /tmp/matchmaker-try.XXXXXX)"
# nginx's workers run as an unprivileged user: they must be able to reach STATIC_ROOT.
chmod 755 "$WORK"
mkdir -p "$WORK/data" "$WORK/logs" "$WORK/tls" "$WORK/nginx" "$WORK/credentials"
PIDS=()
NGINX_STARTED=0
DB_CREATED=0

cleanup() {
  local status=$?
  set +e
  if [ "$NGINX_STARTED" = 1 ]; then
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/logs/nginx-error.log" -s quit
  fi
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    # Celery's warm shutdown and gunicorn's graceful stop take a few seconds.
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [ "$DB_CREATED" = 1 ]; then
    dropdb -h "$PG_HOST" -U "$PG_USER" --if-exists "$TRY_DB"
  fi
  redis-cli -n "$TRY_REDIS_DB" flushdb >/dev/null 2>&1
  if [ "${KEEP:-0}" = 1 ]; then
    echo "Kept $WORK (logs in $WORK/logs)."
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT INT TERM

# 1. A production configuration, as an operator makes it: .env.example, then the lines that
#    differ here (later lines win). Secrets are files, as systemd credentials are.
python3 -c "import secrets; print(secrets.token_urlsafe(50))" >"$WORK/credentials/secret_key"
python3 -c "import secrets; print(secrets.token_urlsafe(32))" >"$WORK/credentials/secret_encryption_keys"
: >"$WORK/credentials/postgres_password"
cp .env.example "$WORK/matchmaker.env"
cat >>"$WORK/matchmaker.env" <<EOF

# deploy/try-by-hand.sh: this machine
ALLOWED_HOSTS=localhost
CSRF_TRUSTED_ORIGINS=https://localhost
SITE_ROOT=https://localhost
POSTGRES_HOST=$PG_HOST
POSTGRES_USER=$PG_USER
POSTGRES_DB=$TRY_DB
REDIS_URL=redis://127.0.0.1:6379/$TRY_REDIS_DB
REDIS_CACHE_URL=redis://127.0.0.1:6379/$TRY_REDIS_DB
CELERY_TASK_DEFAULT_QUEUE=matchmaker-try
FEDERATION_QUEUE=matchmaker-try-federation
CACHE_KEY_PREFIX=matchmaker-try
DATA_DIR=$WORK/data
STATIC_ROOT=$WORK/data/static
GENE_CATALOGUE_PATH=$WORK/data/genes.json.gz
CASE_INDEX_PATH=$WORK/data/case-index.npz
EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend
WEB_BIND=$WEB_BIND
WORKER_NAME=try-worker
FEDERATION_WORKER_NAME=try-federation
SECRET_KEY_FILE=$WORK/credentials/secret_key
SECRET_ENCRYPTION_KEYS_FILE=$WORK/credentials/secret_encryption_keys
POSTGRES_PASSWORD_FILE=$WORK/credentials/postgres_password
EOF
# Read it as systemd's EnvironmentFile= does: KEY=VALUE lines, values taken literally.
while IFS= read -r line; do
  if [[ "$line" =~ ^[A-Z][A-Z0-9_]*= ]]; then
    export "${line?}"
  fi
done <"$WORK/matchmaker.env"
# The plain values would lose to their _FILE twins anyway; unset them to be sure they are unused.
unset SECRET_KEY POSTGRES_PASSWORD SECRET_ENCRYPTION_KEYS

# The gene catalogue source of this checkout, if fetched (scripts/fetch-reference-data).
if [ -d "$ROOT/var/reference" ]; then
  ln -s "$ROOT/var/reference" "$DATA_DIR/reference"
fi
createdb -h "$PG_HOST" -U "$PG_USER" "$TRY_DB"
DB_CREATED=1

# 2. A self-signed certificate for localhost, where the site file expects the real one.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" \
  -keyout "$WORK/tls/privkey.pem" -out "$WORK/tls/fullchain.pem" 2>/dev/null

# 3. The processes, started exactly as the systemd units' ExecStart lines start them.
start() { # name, then the command
  local name="$1"
  shift
  "$@" >"$WORK/logs/$name.log" 2>&1 &
  PIDS+=("$!")
  echo "Started $name (pid $!): $*"
}
start web deploy/entrypoint.sh web
# The web process migrates first (the units order the workers after it).
for _ in $(seq 1 240); do
  if curl -s -o /dev/null -H "Host: localhost" "http://$WEB_BIND/accounts/login/"; then break; fi
  if ! kill -0 "${PIDS[0]}" 2>/dev/null; then
    echo "The web process stopped:" >&2
    tail -n 30 "$WORK/logs/web.log" >&2
    exit 1
  fi
  sleep 0.5
done
start worker deploy/entrypoint.sh worker
start federation-worker deploy/entrypoint.sh federation-worker
start beat deploy/entrypoint.sh beat

# 4. nginx with deploy/nginx/matchmaker.conf, changed only in the host name and paths (and
#    ports, if asked), as an operator changes it.
sed -e "s|server_name matchmaker.example.org;|server_name localhost;|" \
  -e "s|/etc/ssl/matchmaker/|$WORK/tls/|" \
  -e "s|/var/lib/matchmaker/static/|$WORK/data/static/|" \
  -e "s|/var/log/nginx/|$WORK/logs/|" \
  -e "s|server 127.0.0.1:8000;|server $WEB_BIND;|" \
  -e "s|listen \(\[::\]:\)\{0,1\}80\([ ;]\)|listen \1$HTTP_PORT\2|" \
  -e "s|listen \(\[::\]:\)\{0,1\}443 |listen \1$HTTPS_PORT |" \
  deploy/nginx/matchmaker.conf >"$WORK/nginx/matchmaker.conf"
cat >"$WORK/nginx/nginx.conf" <<EOF
pid $WORK/nginx/nginx.pid;
error_log $WORK/logs/nginx-error.log;
events {}
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    include $WORK/nginx/matchmaker.conf;
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/logs/nginx-error.log" -t -q
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/logs/nginx-error.log"
NGINX_STARTED=1
echo "Started nginx on ports $HTTP_PORT and $HTTPS_PORT"

# 5. The checks.
FAILED=0
check() { # description, then a command that succeeds when the check passes
  local description="$1"
  shift
  if "$@"; then
    echo "PASS  $description"
  else
    echo "FAIL  $description"
    FAILED=1
  fi
}
wait_for_log() { # file, pattern: up to 60 s
  for _ in $(seq 1 120); do
    grep -q "$2" "$1" && return 0
    sleep 0.5
  done
  return 1
}
HTTPS="https://localhost:$HTTPS_PORT"
[ "$HTTPS_PORT" = 443 ] && HTTPS="https://localhost"
HTTP="http://localhost:$HTTP_PORT"
[ "$HTTP_PORT" = 80 ] && HTTP="http://localhost"
CURL=(curl --silent --show-error --insecure --max-time 30)

"${CURL[@]}" -D "$WORK/login.headers" -o "$WORK/login.html" "$HTTPS/accounts/login/"
check "the login page comes through nginx over TLS (200)" \
  grep -q "^HTTP/[0-9.]* 200" "$WORK/login.headers"
check "it is the login form" grep -q 'name="password"' "$WORK/login.html"
check "HSTS is sent, once" \
  test "$(grep -ci '^strict-transport-security: max-age=31536000' "$WORK/login.headers")" = 1
check "nginx gives the request an id" grep -qiE '^x-request-id: [0-9a-f]{32}' "$WORK/login.headers"
REQUEST_ID="$(grep -i '^x-request-id:' "$WORK/login.headers" | head -n 1 | tr -d '\r' | cut -d' ' -f2 || true)"
check "gunicorn's access log has the same request id" \
  grep -q "request_id=$REQUEST_ID" "$WORK/logs/web.log"
check "the session cookies are Secure" \
  grep -qiE '^set-cookie: __Host-csrftoken=.*; Secure|^set-cookie: csrftoken=.*; Secure' \
  "$WORK/login.headers"

status="$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$HTTPS/" || true)"
check "/ sends a visitor to the login page (302, got $status)" test "$status" = 302

status="$("${CURL[@]}" -o "$WORK/heartbeat.json" -w '%{http_code}' "$HTTPS/mme/heartbeat" || true)"
check "/mme/heartbeat without a token is refused (401, got $status)" test "$status" = 401

CSS="$(grep -o '/static/web/app[^"]*\.css' "$WORK/login.html" | head -n 1 || true)"
"${CURL[@]}" -D "$WORK/css.headers" -o "$WORK/app.css" "$HTTPS$CSS" || true
check "the page's stylesheet ($CSS) is served (200, text/css)" \
  grep -qi '^content-type: text/css' "$WORK/css.headers"
check "its name carries a content hash and browsers may keep it (max-age=315360000)" \
  grep -qi '^cache-control: max-age=315360000' "$WORK/css.headers"
check "it came from STATIC_ROOT through nginx, not from gunicorn" \
  bash -c "! grep -q '\"GET /static/' '$WORK/logs/web.log'"

redirect="$("${CURL[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' "$HTTP/accounts/login/?next=/" || true)"
check "plain HTTP is redirected to HTTPS (got: $redirect)" \
  test "$redirect" = "301 https://localhost/accounts/login/?next=/"

head -c $((25 * 1024 * 1024)) /dev/zero >"$WORK/big.bin"
status="$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
  --data-binary "@$WORK/big.bin" "$HTTPS/api/v1/cases/import" || true)"
check "a 25 MiB body is refused by nginx (413, got $status)" test "$status" = 413
head -c $((2 * 1024 * 1024)) /dev/zero >"$WORK/big.bin"
status="$("${CURL[@]}" -o "$WORK/mme-413.json" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/vnd.ga4gh.matchmaker.v1.0+json' \
  --data-binary "@$WORK/big.bin" "$HTTPS/mme/match" || true)"
check "a 2 MiB /mme/match body is refused by nginx with JSON (413, got $status)" \
  grep -q '"message"' "$WORK/mme-413.json"
status="$("${CURL[@]}" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/" 2>/dev/null || true)"
check "a request for another host name (the bare IP) is dropped by nginx (got ${status:-no answer})" \
  test "${status:-000}" = 000
status="$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "Host: scanner.example" "$HTTP/" 2>/dev/null || true)"
check "so is plain HTTP for another host name (got ${status:-no answer})" test "${status:-000}" = 000
check "Django saw no request for a host it does not serve" \
  bash -c "! grep -q DisallowedHost '$WORK/logs/web.log'"
check "neither big body reached gunicorn" \
  bash -c "! grep -qE '\"POST /(api/v1/cases/import|mme/match)' '$WORK/logs/web.log'"

# Signing in through nginx: CSRF over HTTPS, Secure cookies, the proxy's X-Forwarded-Proto.
DJANGO_SUPERUSER_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')"
export DJANGO_SUPERUSER_PASSWORD
deploy/entrypoint.sh manage createsuperuser --no-input --username tryadmin \
  --email tryadmin@example.org >/dev/null
JAR="$WORK/cookies.txt"
"${CURL[@]}" -c "$JAR" -o "$WORK/login2.html" "$HTTPS/accounts/login/"
TOKEN="$(grep -o 'name="csrfmiddlewaretoken" value="[^"]*"' "$WORK/login2.html" | cut -d'"' -f4 || true)"
status="$("${CURL[@]}" -b "$JAR" -c "$JAR" -o /dev/null -w '%{http_code} %{redirect_url}' \
  -H "Origin: $HTTPS" -H "Referer: $HTTPS/accounts/login/" \
  --data-urlencode "csrfmiddlewaretoken=$TOKEN" --data-urlencode "username=tryadmin" \
  --data-urlencode "password=$DJANGO_SUPERUSER_PASSWORD" "$HTTPS/accounts/login/" || true)"
check "signing in through nginx works (302 away from the login page, got: $status)" \
  bash -c "[[ '$status' == 302* && '$status' != *accounts/login* ]]"

for path in /health/live /health/ready; do
  status="$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$HTTPS$path" || true)"
  check "$path answers 200 through nginx (got $status)" test "$status" = 200
done

check "the Celery worker is ready" wait_for_log "$WORK/logs/worker.log" "ready\."
check "the Celery federation worker is ready" wait_for_log "$WORK/logs/federation-worker.log" "ready\."
check "beat is running" wait_for_log "$WORK/logs/beat.log" "beat: Starting"
# What the compose file's healthchecks of the workers run.
HOST="$(python3 -c 'import socket; print(socket.gethostname())')"
celery -A matchmaker inspect ping --timeout 10 \
  --destination "try-worker@$HOST,try-federation@$HOST" >"$WORK/ping.txt" 2>&1 || true
check "both workers answer a ping through Redis" test "$(grep -c pong "$WORK/ping.txt")" = 2
# A task through the broker to the worker and its result back (the hourly retention job).
deploy/entrypoint.sh manage shell -c "from matchmaker.federation.tasks import purge_expired_query_payloads as task
print('task result:', task.delay().get(timeout=60))" >"$WORK/task.txt" 2>&1 || true
check "a task sent through Redis is run by the worker" grep -q "task result:" "$WORK/task.txt"
check "every process passed check --deploy and is still running" \
  bash -c "for pid in ${PIDS[*]}; do kill -0 \$pid || exit 1; done"

echo
echo "Web start (check --deploy, migrate, collectstatic, load_hpo, load_genes, gunicorn):"
grep -E "System check|Operations to perform|HPO [0-9]|Gene catalogue|Listening at|reference data loaded" \
  "$WORK/logs/web.log" | sed 's/^/  /' | head -n 12
if [ "$FAILED" = 1 ]; then
  echo "Some checks failed; logs: $WORK/logs (run with KEEP=1 to keep them)." >&2
  exit 1
fi
echo "All checks passed."
