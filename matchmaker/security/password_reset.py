"""Password-reset e-mails, throttled per client address and per account.

The reset form mails a link to whatever address is typed, to anyone who asks: unthrottled, it
lets a stranger flood a clinician's mailbox or the node's mail server. At most
PASSWORD_RESET_MAX_PER_ACCOUNT links go to one account, and at most PASSWORD_RESET_MAX_PER_ADDRESS
requests come from one client address, within PASSWORD_RESET_WINDOW_SECONDS.

Neither count may tell whether an account exists: the account's count is kept under the address
typed (folded as Django's reset form compares addresses: NFKC, case-folded), whether or not an
account has it, and a request over it gets the same neutral page as any other, without the
e-mail. The address's limit is refused openly (429): it depends only on the client.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import unicodedata

from django.conf import settings

from matchmaker.lib.api import warn_degraded
from matchmaker.lib.rate_limits import CACHE_ERRORS, count_hit

logger = logging.getLogger(__name__)

ADDRESS_LIMIT_MESSAGE = (
    "Too many password-reset requests from your network. Try again in {minutes} minutes, or ask "
    "your institution admin to send you a new invitation."
)


class ResetVerdict(enum.Enum):
    SEND = "send"
    ACCOUNT_OVER_LIMIT = "account over its limit"
    ADDRESS_OVER_LIMIT = "address over its limit"


def address_limit_message() -> str:
    minutes = max(1, round(settings.PASSWORD_RESET_WINDOW_SECONDS / 60))
    return ADDRESS_LIMIT_MESSAGE.format(minutes=minutes)


def _account_key(email: str) -> str:
    # As django.contrib.auth.forms._unicode_ci_compare folds the addresses it compares. Hashed:
    # the cache holds no e-mail addresses.
    folded = unicodedata.normalize("NFKC", email.strip()).casefold()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:32]


def note_reset_request(*, email: str, client_address: str | None) -> ResetVerdict:
    """Count one reset request; whether its e-mail may be sent.

    While the cache is down nothing is counted and every link is sent (logged once a minute):
    clinicians locked out of their accounts need the form more than a flood needs stopping.
    """
    window = settings.PASSWORD_RESET_WINDOW_SECONDS
    try:
        from_address = count_hit(
            f"password-reset:ip:{client_address or 'unknown'}", window_seconds=window
        )
        if from_address > settings.PASSWORD_RESET_MAX_PER_ADDRESS:
            if from_address == settings.PASSWORD_RESET_MAX_PER_ADDRESS + 1:
                logger.warning(
                    "password-reset requests from %s: over %d; refused for the rest of the window",
                    client_address or "an unknown address",
                    settings.PASSWORD_RESET_MAX_PER_ADDRESS,
                )
            return ResetVerdict.ADDRESS_OVER_LIMIT
        for_account = count_hit(
            f"password-reset:account:{_account_key(email)}", window_seconds=window
        )
    except CACHE_ERRORS as error:
        warn_degraded(logger, "password-reset throttle not applied: the cache failed: %r", error)
        return ResetVerdict.SEND
    if for_account > settings.PASSWORD_RESET_MAX_PER_ACCOUNT:
        # The e-mail address typed stays out of the log: a clinician's, or nobody's.
        logger.warning(
            "password reset from %s not sent: its account had %d links within the window",
            client_address or "an unknown address",
            settings.PASSWORD_RESET_MAX_PER_ACCOUNT,
        )
        return ResetVerdict.ACCOUNT_OVER_LIMIT
    return ResetVerdict.SEND
