"""gunicorn settings of the web process (`deploy/entrypoint.sh web` starts gunicorn with them).

Each value can be changed through the environment (the "Web process" lines of .env.example).
This file is gunicorn's, not Django's: it reads the few variables of its own here, while every
setting of the application stays in matchmaker/settings.py.
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be an integer, not {value!r}") from None


# nginx proxies to this address (deploy/nginx/matchmaker.conf, upstream matchmaker_web).
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
# Each worker process holds the HPO and the case index in memory (see docs/benchmarks.md):
# about one per core. Threads (gthread) add concurrency for slow requests without more memory.
workers = _env_int("WEB_WORKERS", 2)
threads = _env_int("WEB_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
# A request running longer than this is killed (a 20 MB phenopacket import takes well under a
# minute); nginx waits a little longer (proxy_read_timeout 125s) so the error is gunicorn's.
timeout = _env_int("WEB_TIMEOUT", 120)
# On stop or reload (SIGTERM, SIGHUP) requests in flight get this long to finish.
graceful_timeout = _env_int("WEB_GRACEFUL_TIMEOUT", 30)
# nginx keeps upstream connections open (keepalive 16): keep them a little longer than it does.
keepalive = 75
# Off by default: a restarted worker reloads the case index. Set it if memory creeps up.
max_requests = _env_int("WEB_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
# Only nginx may set X-Forwarded-Proto/-For (the compose file trusts its network: "*").
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The heartbeat files of workers: /dev/shm where there is one (container /tmp may be on disk).
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
proc_name = "matchmaker-web"
# No `gunicornc` control socket: it would go in $HOME, which the systemd units make read-only,
# and two gunicorns of one user on one host would share it.
control_socket_disable = True

# Logs go to standard error and output: journald (systemd) or `docker compose logs`.
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None
# Peer (nginx), the client as nginx saw it, time, request, status, bytes, milliseconds, user
# agent, and the request id nginx generated ($request_id; its access log has it too).
access_log_format = (
    '%(h)s %({x-forwarded-for}i)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" '
    "request_id=%({x-request-id}i)s"
)

# A password-reset link carries a one-time token in its path (Django's
# /accounts/password/reset/<uidb64>/<token>/): the access log shows it masked.
_RESET_TOKEN = re.compile(r"(/accounts/password/reset/[^/]+/)[^/?\s]+/")


def _mask_tokens(text: str) -> str:
    return _RESET_TOKEN.sub(r"\1[token]/", text)


class AccessLogger(Logger):
    """gunicorn's logger, with password-reset tokens masked in the request line and referer."""

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "{referer}i"):
            if isinstance(atoms.get(key), str):
                atoms[key] = _mask_tokens(atoms[key])
        return atoms


logger_class = AccessLogger


def post_fork(server: Any, worker: Any) -> None:
    """Load the HPO, the gene catalogue and the term search index before serving requests.

    Otherwise the first requests of every new worker (and the first term-picker search) each
    wait seconds for them. A failure here (the database down at start) is logged, not fatal:
    the worker then loads them on its first request, once the database is back.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")
    started = time.perf_counter()
    try:
        import django  # noqa: TID251 (the ban is for ontologies/; this file starts Django)

        django.setup()
        from django.db import connections  # noqa: TID251

        from matchmaker.reference.ontology import get_hpo, warm_up

        warm_up()
        get_hpo().search("seizure", limit=1)
        # The connection opened here belongs to no request; request threads open their own.
        connections.close_all()
    except Exception:
        server.log.exception("worker %s: loading the reference data failed", worker.pid)
        return
    server.log.info(
        "worker %s: reference data loaded in %.1f s", worker.pid, time.perf_counter() - started
    )
