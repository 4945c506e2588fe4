"""Checks MME documents against our corrected JSON Schema (schemas/mme.json).

The reference-server schema that other nodes copy has known flaws (it checks `gender` instead of
`sex`, misnames the variant bases, leaves scores unbounded); ours fixes them. Violations come back
as (field, message) pairs meant for a peer reading an HTTP error: a field path in MME style
(`patient.features[2].id`) and a short message saying what was expected.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match, relevance
from referencing import Registry, Resource

SCHEMA_PATH = Path(__file__).parent / "schemas" / "mme.json"

# The JSON names of Python values, for "must be a string, not integer". bool comes before int
# because bool is a subclass of int.
_JSON_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (type(None), "null"),
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)

# Values are quoted in messages; a whole disorder label or contact block would drown the point.
_MAX_SHOWN_CHARACTERS = 40


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One way a document breaks the MME schema."""

    field: str  # MME-style path: "patient.features[2].id", "" for the document itself
    message: str  # what was expected: "'HP:12' does not match ^HP:\\d{7}$"


def request_violations(document: object) -> list[SchemaViolation]:
    """Check a POST /match request body; an empty list means it is valid."""
    return _violations("request", document)


def response_violations(document: object) -> list[SchemaViolation]:
    """Check a POST /match response body, as a peer sends it back to us."""
    return _violations("response", document)


def heartbeat_violations(document: object) -> list[SchemaViolation]:
    """Check a GET /heartbeat response body (v1.1)."""
    return _violations("heartbeatResponse", document)


def metrics_violations(document: object) -> list[SchemaViolation]:
    """Check a GET /metrics response body (v1.1); every metric in it is optional."""
    return _violations("metricsResponse", document)


def schema_document() -> dict[str, Any]:
    """The whole schema, for publishing it. A copy: the validators share the cached original."""
    return copy.deepcopy(_schema())


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # Once per process: a typo in the schema must fail loudly, not make everything valid.
    Draft202012Validator.check_schema(schema)
    return schema


@cache
def _validator(definition: str) -> Draft202012Validator:
    """A validator for one entry of `$defs`, compiled once per process.

    The entry is reached through a `$ref` into a registry holding the whole document, so the
    entry's own `$ref`s to shared definitions (patient, hpoId...) resolve.
    """
    schema = _schema()
    registry: Registry[Any] = Registry().with_resource(
        schema["$id"], Resource.from_contents(schema)
    )
    return Draft202012Validator({"$ref": f"{schema['$id']}#/$defs/{definition}"}, registry=registry)


@cache
def _verdict(definition: str) -> Callable[[object], object]:
    """A yes/no check of one entry of `$defs`, compiled to Python once per process.

    fastjsonschema turns the schema into straight-line code: ~0.2 ms for a 20-term MME query
    where jsonschema's walk takes ~2.7 ms (a tenth of a whole answer's work, issue 16). It
    only says whether the document is valid; the violations of an invalid one come from
    jsonschema, which names them all. It reads our schema as draft-07, which spells every
    keyword the schema uses (`type`, `properties`, `required`, `items`, `pattern`, `enum`,
    `anyOf`, `allOf`, lengths, bounds) the same way; every `$ref` is a JSON pointer into
    `$defs`. tests/federation/test_schema.py checks that both agree on thousands of mutated
    documents, so a document this finds valid is one jsonschema finds valid.
    """
    schema = {key: value for key, value in _schema().items() if key not in ("$schema", "anyOf")}
    compiled: Callable[[object], object] = fastjsonschema.compile(
        {**schema, "$ref": f"#/$defs/{definition}"}
    )
    return compiled


def _violations(definition: str, document: object) -> list[SchemaViolation]:
    """Every violation of one definition, most relevant first, without duplicates.

    Order follows jsonschema's `relevance` (problems higher up in the document first, `anyOf`
    last among equals) but keeps siblings in the order the schema lists properties and the
    document lists items, where `relevance` would reverse them. Python's sort is stable and
    `iter_errors` walks schema and document in a fixed order, so the result is deterministic.
    A valid document (nearly every one) is told apart by the compiled check alone.
    """
    try:
        _verdict(definition)(document)
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        return []
    errors = list(_validator(definition).iter_errors(document))
    # A value of the wrong type also fails every other check on it (enum, pattern...); only
    # the type is worth reporting.
    mistyped = {tuple(error.absolute_path) for error in errors if error.validator == "type"}
    errors = [
        error
        for error in errors
        if error.validator == "type" or tuple(error.absolute_path) not in mistyped
    ]
    errors.sort(key=_rank, reverse=True)
    unique: dict[SchemaViolation, None] = {}
    for error in errors:
        unique.update(dict.fromkeys(_describe(error)))
    return list(unique)


def _rank(error: ValidationError) -> tuple[Any, ...]:
    depth, _sibling_order, *keyword_strength = cast("tuple[Any, ...]", relevance(error))
    return (depth, *keyword_strength)


def _describe(error: ValidationError) -> list[SchemaViolation]:
    """Turn one jsonschema error into violations with a short, human message.

    `required` gives one violation per missing key, named by the key's own path, because
    "patient.contact.name is required" is what a reader looks for.
    """
    path = list(error.absolute_path)
    field = _field(path)
    keyword, expected, value = str(error.validator), error.validator_value, error.instance

    if keyword == "required" and isinstance(expected, list) and isinstance(value, dict):
        return [
            SchemaViolation(_field([*path, name]), "is required")
            for name in expected
            if name not in value
        ]
    if keyword in ("anyOf", "oneOf"):
        # Our schema names the rule in `errorMessage`; otherwise the closest alternative is the
        # likeliest intent, and listing every branch's complaint would be a dump.
        custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
        if isinstance(custom, str):
            return [SchemaViolation(field, custom)]
        closest = best_match(error.context or [])
        if closest is None:
            return [SchemaViolation(field, "does not match any allowed form")]
        return _describe(closest)
    return [SchemaViolation(field, _message(keyword, expected, value, error.message))]


def _message(keyword: str, expected: Any, value: object, fallback: str) -> str:
    if keyword == "type":
        wanted = [expected] if isinstance(expected, str) else list(expected)
        return f"must be {' or '.join(_with_article(name) for name in wanted)}, not {_json_type(value)}"
    if keyword == "pattern":
        return f"{_show(value)} does not match {expected}"
    if keyword == "enum":
        return f"{_show(value)} is not one of {', '.join(str(choice) for choice in expected)}"
    if keyword == "minimum":
        return f"must be at least {expected}, not {_show(value)}"
    if keyword == "maximum":
        return f"must be at most {expected}, not {_show(value)}"
    if keyword in ("minLength", "minItems") and expected == 1:
        return "must not be empty"
    if keyword == "minLength":
        return f"must be at least {expected} characters long"
    if keyword == "maxLength":
        return f"must be at most {expected} characters long, not {len(str(value))}"
    if keyword == "minItems":
        return f"needs at least {expected} items"
    if keyword == "not":
        return "is not allowed here"
    return fallback


def _field(path: Sequence[str | int]) -> str:
    """`["patient", "features", 2, "id"]` -> `"patient.features[2].id"`."""
    field = ""
    for part in path:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else part
    return field


def _json_type(value: object) -> str:
    for python_type, name in _JSON_TYPE_NAMES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def _with_article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _show(value: object) -> str:
    # Python's repr for strings gives 'HP:12', which reads well inside a JSON error body; JSON
    # spelling for the rest gives true/null rather than True/None.
    shown = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    if len(shown) > _MAX_SHOWN_CHARACTERS:
        return shown[: _MAX_SHOWN_CHARACTERS - 1] + "…"
    return shown
