"""Typed accessors and checks shared by the Phenopacket and MME readers.

Each `*_at(parent, key, path)` reads one value and raises `RecordFormatError` naming its JSON
path when the value has the wrong shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeGuard

from matchmaker.cases.records import FeatureRecord, RecordFormatError
from ontologies.genes import CHROMOSOMES

_HPO_ID = re.compile(r"^HP:\d{7}$")
_SO_ID = re.compile(r"^SO:\d{7}$")
_DISORDER_ID = re.compile(r"^(OMIM|MIM|ORPHA|ORPHANET|MONDO):(\d+)$", re.IGNORECASE)
_DISORDER_PREFIXES = {
    "OMIM": "OMIM",
    "MIM": "OMIM",
    "ORPHA": "ORPHA",
    "ORPHANET": "ORPHA",
    "MONDO": "MONDO",
}
_ASSEMBLIES = {
    "ncbi36": "NCBI36",
    "hg18": "NCBI36",
    "grch37": "GRCh37",
    "hg19": "GRCh37",
    "grch38": "GRCh38",
    "hg38": "GRCh38",
}
# Patch releases (GRCh37.p13) keep the coordinates of the primary chromosomes, so the record keeps
# only the assembly.
_ASSEMBLY_PATCH = re.compile(r"\.p\d+$", re.IGNORECASE)
# "MT" is the GRC name; MME's reference schema spells it "M", UCSC "chrM". CHROMOSOMES (from the
# gene catalogue) is the one list of names for the whole node.


# --- Shared checks -----------------------------------------------------------------------------


def unique_features(features: Iterable[tuple[str, FeatureRecord]]) -> tuple[FeatureRecord, ...]:
    """Keep the first of repeated terms; a term both observed and excluded is an error."""
    by_term: dict[str, FeatureRecord] = {}
    for path, feature in features:
        previous = by_term.setdefault(feature.hpo_id, feature)
        if previous.observed != feature.observed:
            raise RecordFormatError(
                f"{feature.hpo_id} is listed both as observed and as excluded", field=path
            )
    return tuple(by_term.values())


def assembly_at(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = string_at(parent, key, path, required=True)
    assembly = _ASSEMBLIES.get(_ASSEMBLY_PATCH.sub("", value.strip()).lower())
    if assembly is None:
        raise RecordFormatError(
            f"{value!r} is not a known assembly (GRCh37/hg19, GRCh38/hg38, NCBI36/hg18)",
            field=join(path, key),
        )
    return assembly


def chromosome_at(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = string_at(parent, key, path, required=True)
    name = value.strip()
    if name[:3].lower() == "chr":
        name = name[3:]
    name = name.upper()
    if name == "M":
        name = "MT"
    if name not in CHROMOSOMES:
        raise RecordFormatError(
            f"{value!r} is not a chromosome (1-22, X, Y, MT)", field=join(path, key)
        )
    return name


def disorder_id_at(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = string_at(parent, key, path, required=True).strip()
    match = _DISORDER_ID.match(value)
    if match is None:
        raise RecordFormatError(
            f"{value!r} is not an OMIM, MIM, ORPHA, Orphanet or MONDO id", field=join(path, key)
        )
    return f"{_DISORDER_PREFIXES[match.group(1).upper()]}:{match.group(2)}"


def hpo_id_at(parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    value = string_at(parent, key, path, required=required).strip()
    if value and not _HPO_ID.match(value):
        raise RecordFormatError(f"{value!r} is not an HPO id (HP:#######)", field=join(path, key))
    return value


def _so_id_at(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = string_at(parent, key, path, required=True).strip()
    if not _SO_ID.match(value):
        raise RecordFormatError(f"{value!r} is not an SO id (SO:#######)", field=join(path, key))
    return value


def so_term_at(parent: Mapping[str, Any], key: str, path: str) -> tuple[str, str]:
    """(id, label) of the optional SO term object at `key`; ("", "") when there is none."""
    term = object_at(parent, key, path)
    if term is None:
        return "", ""
    term_path = join(path, key)
    return _so_id_at(term, "id", term_path), string_at(term, "label", term_path)


# --- JSON shape helpers ------------------------------------------------------------------------


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Sequence):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def is_integer(value: Any) -> TypeGuard[int]:
    # JSON true/false arrive as Python bools, which are ints.
    return isinstance(value, int) and not isinstance(value, bool)


def require_object(value: Any, path: str, *, what: str = "") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        subject = what or "it"
        raise RecordFormatError(f"{subject} must be an object, not {json_type(value)}", field=path)
    return value


def object_at(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RecordFormatError(f"must be an object, not {json_type(value)}", field=join(path, key))
    return value


def required_object_at(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = object_at(parent, key, path)
    if value is None:
        raise RecordFormatError("is required", field=join(path, key))
    return value


def objects_at(
    parent: Mapping[str, Any], key: str, path: str
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, item) for each object in the list at `key`; a missing list is empty."""
    value = parent.get(key)
    if value is None:
        return
    list_path = join(path, key)
    if not isinstance(value, list):
        raise RecordFormatError(f"must be a list, not {json_type(value)}", field=list_path)
    for index, item in enumerate(value):
        item_path = f"{list_path}[{index}]"
        if not isinstance(item, Mapping):
            raise RecordFormatError(f"must be an object, not {json_type(item)}", field=item_path)
        yield item_path, item


def string_at(parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    value = parent.get(key)
    if value is None:
        if required:
            raise RecordFormatError("is required", field=join(path, key))
        return ""
    if not isinstance(value, str):
        raise RecordFormatError(f"must be a string, not {json_type(value)}", field=join(path, key))
    if required and not value.strip():
        raise RecordFormatError("must not be empty", field=join(path, key))
    return value


def bool_at(parent: Mapping[str, Any], key: str, path: str) -> bool:
    value = parent.get(key, False)
    if not isinstance(value, bool):
        raise RecordFormatError(
            f"must be true or false, not {json_type(value)}", field=join(path, key)
        )
    return value
