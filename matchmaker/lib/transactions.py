"""Work that runs once the current transaction has committed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


def after_commit(func: Callable[..., object], /, *args: Any, **kwargs: Any) -> None:
    """Call ``func(*args, **kwargs)`` after the current transaction commits (now, outside one).

    A failure is logged, not raised: the data is committed by then, and the request that saved
    it must not answer 500. (Django's own ``robust=True`` logs the callback's ``__qualname__``,
    which a ``functools.partial`` lacks: its failure would turn into an AttributeError.)
    """

    def call() -> None:
        func(*args, **kwargs)

    call.__qualname__ = getattr(func, "__qualname__", repr(func))
    transaction.on_commit(call, robust=True)
