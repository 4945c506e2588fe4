"""The address of the client behind a request: the one place that decides it.

Behind the reverse proxy of deploy/ (nginx), REMOTE_ADDR is the proxy's own address; the client's
comes in the header the proxy sets (`CLIENT_IP_HEADER`, X-Real-IP there). The login lockout, the
password-reset and MME throttles and the MME audit log all read it here, so they agree on who asked.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request


def client_address(request: HttpRequest | Request) -> str | None:
    """The client's IP address as text, or None when neither source holds a valid address.

    Only a header that the proxy overwrites may be trusted (nginx: `proxy_set_header X-Real-IP
    $remote_addr`); anything else a client could set itself to dodge a per-address count.
    """
    value = ""
    if settings.CLIENT_IP_HEADER:
        meta_key = "HTTP_" + settings.CLIENT_IP_HEADER.upper().replace("-", "_")
        # X-Forwarded-For style lists: the proxy appends the address it saw last.
        value = request.META.get(meta_key, "").split(",")[-1].strip()
    if not value:
        value = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
