"""The production recipe in deploy/: settings listed, check --deploy clean, one start script.

deploy/try-by-hand.sh runs the whole stack behind nginx (minutes, as root); these tests keep the
pieces consistent with each other and with the code, and run nginx and gunicorn with the files.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from matchmaker.cases.interchange import MAX_UPLOAD_BYTES
from tests.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOY = REPO_ROOT / "deploy"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
ROLES = {"web", "worker", "federation-worker", "beat"}
# Variables that settings.py reads through its helpers: env_str("NAME"...), env_secret('NAME').
_SETTING = re.compile(r"""env_(?:str|int|bool|float|secret)\(\s*["']([A-Z][A-Z0-9_]*)["']""")
_VARIABLE_LINE = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def env_example_lines() -> list[str]:
    return ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()


def listed_variables() -> dict[str, str]:
    """Every NAME=value line of .env.example, commented out or not."""
    listed = {}
    for line in env_example_lines():
        if match := _VARIABLE_LINE.match(line):
            listed[match[1]] = match[2]
    return listed


def production_environment() -> dict[str, str]:
    """.env.example as an operator fills it in: its active lines, plus real secrets."""
    environment = {}
    for line in env_example_lines():
        if not line.startswith("#") and (match := _VARIABLE_LINE.match(line)):
            environment[match[1]] = match[2]
    environment["SECRET_KEY"] = secrets.token_urlsafe(50)
    return environment


def manage(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only the system's own variables: nothing of the test run's configuration leaks in.
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(  # noqa: S603 (fixed arguments)
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**base, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_setting_read_by_settings_py_is_listed_in_env_example() -> None:
    read = set(_SETTING.findall((REPO_ROOT / "matchmaker" / "settings.py").read_text()))
    listed = set(listed_variables())
    missing = {name for name in read if name not in listed and f"{name}_FILE" not in listed}
    assert not missing, f"add to .env.example, with a comment line: {sorted(missing)}"


def test_every_variable_of_the_deploy_scripts_is_listed_in_env_example() -> None:
    entrypoint = (DEPLOY / "entrypoint.sh").read_text()
    gunicorn = (DEPLOY / "gunicorn.conf.py").read_text()
    read = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)[:}]", entrypoint))
    read |= set(re.findall(r"""(?:environ\.get|_env_int)\(\s*"([A-Z][A-Z0-9_]*)\"""", gunicorn))
    read -= {"BASH_SOURCE", "CREDENTIALS_DIRECTORY"}  # bash's and systemd's own
    assert {"WEB_BIND", "WEB_WORKERS", "WORKER_CONCURRENCY"} <= read
    missing = read - set(listed_variables())
    assert not missing, f"add to .env.example, with a comment line: {sorted(missing)}"


def test_each_variable_in_env_example_is_explained_by_a_comment() -> None:
    lines = env_example_lines()
    seen: set[str] = set()
    for number, line in enumerate(lines):
        match = _VARIABLE_LINE.match(line)
        if not match:
            continue
        assert match[1] not in seen, f".env.example lists {match[1]} twice"
        seen.add(match[1])
        previous = lines[number - 1] if number else ""
        message = f".env.example line {number + 1}: {match[1]} needs a comment line above it"
        assert previous.startswith("#"), message
        assert not _VARIABLE_LINE.match(previous), message


@pytest.mark.parametrize(
    "environment",
    [
        pytest.param(production_environment(), id="env-example"),
        pytest.param(
            {
                "DEBUG": "False",
                "SECRET_KEY": secrets.token_urlsafe(50),
                "POSTGRES_HOST": "127.0.0.1",
                "POSTGRES_USER": "postgres",
                "POSTGRES_DB": "test",
                "REDIS_URL": "redis://127.0.0.1:6379/9",
                "ALLOWED_HOSTS": "matchmaker.example.org",
                "SECRET_ENCRYPTION_KEYS": secrets.token_urlsafe(32),
            },
            id="minimal",
        ),
    ],
)
def test_a_production_configuration_passes_check_deploy_at_warning_level(
    environment: dict[str, str],
) -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=environment)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_refuses_a_production_configuration_that_weakens_security() -> None:
    environment = {**production_environment(), "SECURE_SSL_REDIRECT": "False"}

    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=environment)

    assert result.returncode != 0
    assert "security.W008" in result.stderr


def systemd_directives(path: Path) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            directives.setdefault(key, []).append(value)
    return directives


def started_roles() -> dict[str, set[str]]:
    """The entrypoint role each way of deploying starts, by where it is written."""
    units = set()
    for path in (DEPLOY / "systemd").glob("*.service"):
        (command,) = systemd_directives(path)["ExecStart"]
        program, role = command.split()
        assert program == "/opt/matchmaker/deploy/entrypoint.sh", path.name
        units.add(role)
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    image_roles = set()
    for name, service in compose["services"].items():
        if service.get("image") == "matchmaker:latest":
            (role,) = service["command"]
            image_roles.add(role)
            assert name == role, "compose services are named after their role"
    by_hand = set(
        re.findall(
            r"deploy/entrypoint\.sh ([a-z-]+)$", (DEPLOY / "try-by-hand.sh").read_text(), re.M
        )
    )
    return {"systemd": units, "compose": image_roles, "try-by-hand": by_hand}


def test_units_compose_and_the_manual_try_start_the_same_roles_of_the_start_script() -> None:
    entrypoint = (DEPLOY / "entrypoint.sh").read_text()
    handled = set(re.findall(r"^  ([a-z-]+)\)$", entrypoint, re.M))

    assert handled == {*ROLES, "manage"}
    assert started_roles() == {"systemd": ROLES, "compose": ROLES, "try-by-hand": ROLES}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in dockerfile


def test_the_start_script_checks_the_configuration_before_anything_else() -> None:
    entrypoint = (DEPLOY / "entrypoint.sh").read_text()
    for role in ROLES:
        block = entrypoint.split(f"\n  {role})\n", 1)[1].split(";;", 1)[0]
        commands = [line.strip() for line in block.splitlines() if line.strip()]
        steps = [c for c in commands if not c.startswith(("#", "if", "echo", '"', "exit", "fi"))]
        assert steps[0] == "check", role
    assert "python manage.py check --deploy --fail-level WARNING" in entrypoint
    web = entrypoint.split("prepare_web() {", 1)[1].split("\n}", 1)[0]
    order = ["migrate --no-input", "collectstatic --no-input", "load_hpo", "load_genes"]
    assert [web.index(step) for step in order] == sorted(web.index(step) for step in order)


def test_systemd_units_read_secrets_as_credentials_and_are_hardened() -> None:
    for path in (DEPLOY / "systemd").glob("*.service"):
        directives = systemd_directives(path)
        assert directives["EnvironmentFile"] == ["/etc/matchmaker/matchmaker.env"]
        assert directives["User"] == ["matchmaker"]
        credentials = {value.split(":", 1)[0] for value in directives["LoadCredential"]}
        files = {
            value.split("=", 1)[0]: value.split("=", 1)[1]
            for value in directives["Environment"]
            if value.split("=", 1)[0].endswith("_FILE")
        }
        assert files == {
            f"{credential.upper()}_FILE": f"%d/{credential}" for credential in credentials
        }
        settings = (REPO_ROOT / "matchmaker" / "settings.py").read_text()
        for name in files:
            assert f'env_secret("{name.removesuffix("_FILE")}"' in settings
        for hardening in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
            assert directives[hardening] == ["yes"], (path.name, hardening)
        assert directives["ProtectSystem"] == ["strict"]
        assert directives["ReadWritePaths"] == [listed_variables()["DATA_DIR"]]
        assert directives["Restart"] == ["on-failure"]


def test_nginx_limits_and_addresses_agree_with_the_application() -> None:
    site = (DEPLOY / "nginx" / "matchmaker.conf").read_text()

    def size(value: str) -> int:
        units = {"k": 1024, "m": 1024 * 1024}
        return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)

    limits = [size(value) for value in re.findall(r"client_max_body_size (\w+);", site)]
    overall, mme = limits
    assert overall >= MAX_UPLOAD_BYTES  # the import page and the REST API's import
    mme_bytes = int(listed_variables()["MME_MAX_REQUEST_BYTES"])
    # Django answers up to its limit itself (with its JSON error); nginx stops the rest early.
    assert mme_bytes <= mme < 2 * mme_bytes
    hsts = listed_variables()["SECURE_HSTS_SECONDS"]
    assert set(re.findall(r"max-age=(\d+)", site)) == {hsts}
    upstream = re.search(r"upstream matchmaker_web \{\s*server ([^;]+);", site)
    assert upstream is not None
    assert upstream[1] == listed_variables()["WEB_BIND"]
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-ID"):
        assert f"proxy_set_header {header} " in site
    # One client address everywhere: the header nginx overwrites is the one the node reads.
    header = listed_variables()["CLIENT_IP_HEADER"]
    assert f"proxy_set_header {header} $remote_addr;" in site
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose["x-app"]["environment"]["CLIENT_IP_HEADER"] == header
    assert f"alias {listed_variables()['STATIC_ROOT']}/;" in site


def test_the_compose_file_rewrites_only_what_its_sed_expressions_find_in_the_site_file() -> None:
    site = (DEPLOY / "nginx" / "matchmaker.conf").read_text()
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    command = compose["services"]["nginx"]["command"][-1]
    for pattern in re.findall(r"-e 's\|([^|]+)\|", command):
        assert pattern in site, pattern
    by_hand = (DEPLOY / "try-by-hand.sh").read_text()
    for pattern in (
        "server_name matchmaker.example.org;",
        "/etc/ssl/matchmaker/",
        "/var/log/nginx/",
    ):
        assert pattern in by_hand
        assert pattern in site


def test_compose_healthchecks_use_the_health_endpoints_and_secrets_are_files() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert "/health/ready" in " ".join(services["web"]["healthcheck"]["test"])
    assert "/health/live" in " ".join(services["nginx"]["healthcheck"]["test"])
    for role in ROLES:
        environment = services[role]["environment"]
        for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "SECRET_ENCRYPTION_KEYS"):
            assert environment[f"{name}_FILE"].startswith("/run/secrets/")
            assert name not in environment
    assert set(compose["secrets"]) == {"secret_key", "postgres_password", "secret_encryption_keys"}


@pytest.fixture
def self_signed_certificate(tmp_path: Path) -> Path:
    tls = tmp_path / "tls"
    tls.mkdir()
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    subprocess.run(  # noqa: S603 (fixed arguments)
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-keyout", str(tls / "privkey.pem"), "-out", str(tls / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return tls


# Installed, or Debian's package unpacked by scripts/fetch-nginx (which scripts/test runs).
UNPACKED_NGINX = REPO_ROOT / "var" / "tools" / "nginx"
NGINX = (
    shutil.which("nginx")
    or shutil.which("nginx", path="/usr/sbin:/sbin")
    or shutil.which("nginx", path=str(UNPACKED_NGINX / "usr" / "sbin"))
)
MIME_TYPES = next(
    (
        path
        for path in (Path("/etc/nginx/mime.types"), UNPACKED_NGINX / "etc/nginx/mime.types")
        if path.exists()
    ),
    None,
)


def write_nginx_config(tmp_path: Path, certificate: Path, site: str) -> Path:
    """nginx.conf around the site file `site`, with paths under `tmp_path`; returns its path."""
    site = site.replace("/etc/ssl/matchmaker/", f"{certificate}/")
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{\n include {MIME_TYPES};\n include {tmp_path}/site.conf;\n"
        # Temporary folders of our own: an unpacked nginx has no /var/lib/nginx.
        + "".join(
            f" {kind}_temp_path {tmp_path}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + "}\n"
    )
    return tmp_path / "nginx.conf"


@pytest.mark.skipif(
    NGINX is None or MIME_TYPES is None,
    reason="nginx is neither installed nor unpacked (scripts/fetch-nginx needs apt-get)",
)
def test_nginx_accepts_the_site_file(tmp_path: Path, self_signed_certificate: Path) -> None:
    assert NGINX is not None
    site = (DEPLOY / "nginx" / "matchmaker.conf").read_text()
    write_nginx_config(tmp_path, self_signed_certificate, site)

    result = subprocess.run(  # noqa: S603 (fixed arguments)
        [
            NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
            "-e", str(tmp_path / "error.log"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def _site_in_front_of(upstream: str, https_port: int) -> str:
    """The deploy site file as nginx would run it here: on loopback ports, before `upstream`."""
    site = (DEPLOY / "nginx" / "matchmaker.conf").read_text()
    lines = [line for line in site.splitlines() if "listen [::]:" not in line]
    site = "\n".join(lines)
    site = site.replace("listen 80", f"listen 127.0.0.1:{free_port()}")
    site = site.replace("listen 443", f"listen 127.0.0.1:{https_port}")
    replaced = site.replace("server 127.0.0.1:8000;", f"server {upstream};")
    assert replaced != site
    return replaced


def _https_request_from(source: str, port: int, request: str) -> bytes:
    """Send `request` over TLS (SNI matchmaker.example.org) to 127.0.0.1:`port` from `source`."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    with (
        socket.create_connection(
            ("127.0.0.1", port), timeout=30, source_address=(source, 0)
        ) as raw,
        context.wrap_socket(raw, server_hostname="matchmaker.example.org") as connection,
    ):
        connection.sendall(request.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@pytest.mark.skipif(
    NGINX is None or MIME_TYPES is None,
    reason="nginx is neither installed nor unpacked (scripts/fetch-nginx needs apt-get)",
)
@pytest.mark.django_db(transaction=True)
def test_behind_the_deploy_nginx_the_audit_log_records_the_clients_address(
    tmp_path: Path, self_signed_certificate: Path, live_server: Any, settings: Any
) -> None:
    """A peer at 127.0.0.2 asks through nginx (which reaches the node from 127.0.0.1): the audit
    row names the peer's address, read from the header nginx sets, as .env.example configures."""
    from matchmaker.federation.models import MmeRequestLog
    from matchmaker.federation.services import add_peer

    assert NGINX is not None
    settings.CLIENT_IP_HEADER = listed_variables()["CLIENT_IP_HEADER"]
    settings.ALLOWED_HOSTS = ["matchmaker.example.org"]
    token = "nginx-peer-token-0123456789abcdef"
    add_peer("Proxied Node", inbound_token=token)
    https_port = free_port()
    upstream = live_server.url.removeprefix("http://")
    config = write_nginx_config(
        tmp_path, self_signed_certificate, _site_in_front_of(upstream, https_port)
    )
    nginx = subprocess.Popen(  # noqa: S603 (fixed arguments)
        [
            NGINX, "-p", str(tmp_path), "-c", str(config), "-e", str(tmp_path / "error.log"),
            "-g", "daemon off; user root;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "nginx.pid").exists():
            assert nginx.poll() is None, (tmp_path / "error.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        answers = [
            _https_request_from(
                "127.0.0.2",
                https_port,
                f"GET /mme/heartbeat HTTP/1.1\r\nHost: matchmaker.example.org\r\n"
                f"X-Auth-Token: {sent}\r\nX-Real-IP: 192.0.2.66\r\n"
                "X-Forwarded-For: 192.0.2.66\r\nConnection: close\r\n\r\n",
            )
            for sent in (token, "a-token-nobody-was-given-000000")
        ]
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)

    assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 401 Unauthorized",
    ]
    # Not nginx's own 127.0.0.1, nor what the client claimed in its headers.
    assert list(
        MmeRequestLog.objects.order_by("id").values_list("status_code", "remote_address")
    ) == [(200, "127.0.0.2"), (401, "127.0.0.2")]


def test_gunicorn_with_the_deploy_config_warms_up_and_logs_request_ids_without_tokens(
    tmp_path: Path,
) -> None:
    database = tmp_path / "node.sqlite3"
    environment = {"SQLITE_PATH": str(database), "ALLOWED_HOSTS": "localhost"}
    migrated = manage("migrate", "--no-input", environment=environment)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable, "-m", "gunicorn", "--config", str(DEPLOY / "gunicorn.conf.py"),
                "matchmaker.wsgi:application",
            ],
            cwd=REPO_ROOT,
            env={
                **base,
                **environment,
                "WEB_BIND": f"127.0.0.1:{port}",
                "WEB_WORKERS": "1",
                "WEB_THREADS": "2",
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "reference data loaded" not in log.read_text():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        request = (
            "GET /accounts/password/reset/MQ/cn1mbd-0123456789abcdef/ HTTP/1.1\r\n"
            "Host: localhost\r\nX-Request-ID: 5f2a9c0d1e\r\nX-Forwarded-For: 203.0.113.9\r\n"
            "Connection: close\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(request.encode())
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        deadline = time.monotonic() + 10
        while "request_id=5f2a9c0d1e" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    (line,) = [line for line in text.splitlines() if "request_id=5f2a9c0d1e" in line]
    assert "203.0.113.9" in line
    assert "/accounts/password/reset/MQ/[token]/" in line
    assert "cn1mbd-0123456789abcdef" not in text
    assert "gthread" in text


def test_manage_sh_runs_a_command_with_the_web_units_user_settings_and_credentials() -> None:
    unit = DEPLOY / "systemd" / "matchmaker-web.service"
    result = subprocess.run(  # noqa: S603 (fixed arguments)
        [str(DEPLOY / "manage.sh"), "remap_case_terms", "--dry-run"],
        env={"PATH": os.environ["PATH"], "MATCHMAKER_UNIT": str(unit), "SYSTEMD_RUN": "echo"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )

    command = result.stdout.split()
    properties = {command[i + 1] for i, word in enumerate(command) if word == "--property"}
    directives = systemd_directives(unit)
    assert properties == {
        f"{key}={value}"
        for key in ("User", "Group", "WorkingDirectory", "EnvironmentFile", "LoadCredential")
        for value in directives[key]
    }
    assert "--wait" in command
    assert command[-4:] == [
        str(DEPLOY / "entrypoint.sh"),
        "manage",
        "remap_case_terms",
        "--dry-run",
    ]
