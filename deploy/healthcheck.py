"""Exit 0 when the node answers 200 at a URL (the compose file's healthcheck of the web container).

    python deploy/healthcheck.py http://127.0.0.1:8000/health/ready

The request names the node's first host name (Django refuses hosts outside ALLOWED_HOSTS) and
says it came over HTTPS, as nginx does (otherwise SECURE_SSL_REDIRECT answers a redirect).
Standard library only: it runs in the image with nothing else loaded.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main(url: str) -> int:
    hosts = [host.strip() for host in os.environ.get("ALLOWED_HOSTS", "").split(",")]
    host = next((host.lstrip(".") for host in hosts if host and host != "*"), "localhost")
    request = urllib.request.Request(  # noqa: S310 (the URL is the healthcheck's own)
        url, headers={"Host": host, "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/health/ready"))
