"""Keeping passwords, tokens and secrets out of logs and error reports.

The code never logs a credential on purpose; this is the net under it. `SecretScrubbingFilter`
sits on the log handlers (settings.LOGGING) and rewrites every record before it is written:
values after a sensitive name (`password=...`, `"token": "..."`, `X-Auth-Token: ...`,
`Authorization: Token ...`), bearer tokens and our API keys (`mmapi_...`) become `[scrubbed]`, in
the message, its arguments, extra fields and the formatted traceback.
`SecretScrubbingExceptionReporterFilter` and `SecretScrubbingExceptionReporter` do the same for
Django's 500 reports and error e-mails, which list request headers, the URL, GET and POST fields
and settings.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.http import HttpRequest, QueryDict
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

SCRUBBED = "[scrubbed]"

# A name that announces a credential: password, passwd, secret, token, api_key, X-Auth-Token,
# Authorization, sessionid, csrftoken / csrfmiddlewaretoken, otp_token...
_SENSITIVE_NAME = r"[\w-]*(?:passw(?:or)?d|passphrase|secret|token|api[_-]?key|authorization|sessionid|csrf)[\w-]*"
SENSITIVE_NAME = re.compile(_SENSITIVE_NAME, re.IGNORECASE)

_PATTERNS = [
    # name=value, name: value, "name": "value", 'name': 'value' (with an optional auth scheme).
    re.compile(
        rf"(?P<name>\b{_SENSITIVE_NAME})(?P<separator>[\"']?\s*[:=]\s*[\"']?)"
        r"(?:(?P<scheme>(?:token|bearer|basic)\s+))?(?P<value>[^\s\"'&,;)}\]]+)",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<name>\bbearer)(?P<separator>\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.I),
    # Our API keys carry a prefix so that they are recognised wherever they turn up.
    re.compile(r"(?P<name>\bmmapi_)(?P<separator>)(?P<value>[A-Za-z0-9_-]{8,})"),
]

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


def _replace(match: re.Match[str]) -> str:
    scheme = match.groupdict().get("scheme") or ""
    return f"{match['name']}{match['separator']}{scheme}{SCRUBBED}"


def scrub_text(text: str) -> str:
    """`text` with every credential-looking value replaced by [scrubbed]."""
    for pattern in _PATTERNS:
        text = pattern.sub(_replace, text)
    return text


class SecretScrubbingFilter(logging.Filter):
    """Rewrites records in place; never drops one (a log line is worth more without its secret)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the formatter will report it
            return True
        # Formatted once here, so arguments (dicts of headers, request bodies) are covered too.
        record.msg, record.args = scrub_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD_ATTRIBUTES:
                continue
            if isinstance(value, str):
                setattr(
                    record, name, SCRUBBED if SENSITIVE_NAME.fullmatch(name) else scrub_text(value)
                )
        return True


class SecretScrubbingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, also hiding sensitive POST fields of views not marked as sensitive.

    Django already hides settings and headers whose names contain API, AUTH, TOKEN, KEY, SECRET,
    PASS, SIGNATURE or COOKIE (so `Authorization`, `X-Auth-Token` and the session cookie), and
    the POST fields a view names with `sensitive_post_parameters`. This adds CSRF and SESSION
    names, any POST field with a credential-like name, and the query string's credentials.
    """

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CSRF|SESSION", flags=re.IGNORECASE
    )

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        parameters = super().get_post_parameters(request)
        if request is None or not isinstance(parameters, QueryDict):
            return parameters
        cleansed = parameters.copy()
        for name in cleansed:
            if _is_sensitive(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        meta = super().get_safe_request_meta(request)
        if isinstance(meta.get("QUERY_STRING"), str):
            meta["QUERY_STRING"] = scrub_text(meta["QUERY_STRING"])
        return meta


class SecretScrubbingExceptionReporter(ExceptionReporter):
    """Django's report, with credentials in the URL and GET fields hidden (the filter sees neither)."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if "request_insecure_uri" in data:
            data["request_insecure_uri"] = scrub_text(str(data["request_insecure_uri"]))
        if "request_GET_items" in data:
            data["request_GET_items"] = [
                (name, self.filter.cleansed_substitute if _is_sensitive(name) else value)
                for name, value in data["request_GET_items"]
            ]
        return data


def _is_sensitive(name: str) -> bool:
    return bool(SENSITIVE_NAME.fullmatch(name)) or name in ("code", "otp_token")
