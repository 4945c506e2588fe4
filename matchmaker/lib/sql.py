"""Names for hand-written SQL on hot paths, taken from the models' metadata.

A few statements run on every MME answer, where building the ORM's query costs more than
running it (docs/benchmarks.md, issue 16); they are written through the cursor, with table and
column names read from the models so that a renamed field cannot leave them behind.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Field, Model


def concrete_field(model: type[Model], name: str) -> Field[Any, Any]:
    """The field `name` of `model`; TypeError if it is not a column (a reverse relation)."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field


def quoted_column(model: type[Model], name: str) -> str:
    """The column of field `name` (a foreign key's "…_id"), quoted for this database."""
    column = concrete_field(model, name).column
    if column is None:
        raise TypeError(f"{model.__name__}.{name} has no column")
    return connection.ops.quote_name(column)


def quoted_table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)
