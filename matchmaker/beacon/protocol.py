"""Beacon v2 requests as the node understands them: GET parameters or a POST body, parsed into
one `BeaconRequest`, with a warning (never an error) for what the node cannot use.

Coordinates follow the Beacon v2 request parameters: 0-based `start`, exclusive `end`, the
convention the node stores variants in (MME), so no conversion happens here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ontologies.genes import GeneCatalogue, GeneLookupError
from ontologies.hpo import ObsoleteTermError, Ontology, UnknownTermError

API_VERSION = "v2.0.0"
SIMILARITIES = ("exact", "high", "medium", "low")
GRANULARITIES = ("boolean", "count", "record")
# NCIT terms for an individual's sex (the Beacon v2 default model), and the node's values.
SEX_TERMS = {"NCIT:C16576": "FEMALE", "NCIT:C20197": "MALE", "NCIT:C17998": "OTHER"}
SEX_LABELS = {"NCIT:C16576": "female", "NCIT:C20197": "male", "NCIT:C17998": "unknown"}
_DISEASE = re.compile(r"^(OMIM|MIM|ORPHA|Orphanet|MONDO):\d+$", re.IGNORECASE)
_HPO = re.compile(r"^HP:\d{7}$")
_GENE = re.compile(r"^(HGNC|NCBIGene|ENSG|ensembl)[:\d]", re.IGNORECASE)
_ASSEMBLIES = {"grch37": "GRCh37", "hg19": "GRCh37", "grch38": "GRCh38", "hg38": "GRCh38"}
_QUERY_PARAMETERS = (
    "assemblyId",
    "referenceName",
    "start",
    "end",
    "referenceBases",
    "alternateBases",
    "geneId",
    "variantType",
)
MAX_FILTERS = 32


class BeaconRequestError(ValueError):
    """A request the node cannot answer; `status` is the HTTP status of the error response."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class TermFilter:
    hpo_id: str  # the current id (an alternative id is resolved)
    include_descendants: bool = True
    similarity: str = "exact"


@dataclass(frozen=True, slots=True)
class VariantQuery:
    """A sequence, range or bracket query (Beacon v2 genomic request parameters)."""

    assembly: str = ""
    reference_name: str = ""
    start: tuple[int, ...] = ()
    end: tuple[int, ...] = ()
    reference_bases: str = ""
    alternate_bases: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.start


@dataclass(slots=True)
class BeaconRequest:
    granularity: str = "boolean"
    test_mode: bool = False
    term_filters: list[TermFilter] = field(default_factory=list)
    disease_ids: list[str] = field(default_factory=list)
    sexes: list[str] = field(default_factory=list)
    gene_ids: list[str] = field(default_factory=list)  # canonical, each one a filter (ANDed)
    variant: VariantQuery = field(default_factory=VariantQuery)
    datasets: list[str] = field(default_factory=list)
    filter_ids: list[str] = field(default_factory=list)  # as received, for the summary
    request_parameters: dict[str, Any] = field(default_factory=dict)  # as received
    warnings: list[str] = field(default_factory=list)
    # Something named nothing the node holds (an unknown gene): nothing can match.
    matches_nothing: bool = False

    @property
    def has_filters(self) -> bool:
        return bool(
            self.term_filters
            or self.disease_ids
            or self.sexes
            or self.gene_ids
            or not self.variant.is_empty
            or self.matches_nothing
        )


def request_from_get(params: Mapping[str, list[str]]) -> tuple[dict[str, Any], list[Any]]:
    """GET query parameters as the (requestParameters, filters) of a POST body.

    `filters=HP:0001250,HP:0001263` (comma-separated or repeated) are ontology filters;
    `includeDescendantTerms=false` and `similarity=high` apply to all of them. The genomic
    parameters are named as in the body; `start`/`end` may be lists.
    """
    options: dict[str, Any] = {}
    if params.get("includeDescendantTerms"):
        value = params["includeDescendantTerms"][0].strip().lower()
        options["includeDescendantTerms"] = {"true": True, "false": False}.get(value, value)
    if params.get("similarity"):
        options["similarity"] = params["similarity"][0].strip()
    filters: list[Any] = []
    for value in params.get("filters", []):
        filters.extend({"id": item.strip(), **options} for item in value.split(",") if item.strip())
    parameters: dict[str, Any] = {}
    for name in _QUERY_PARAMETERS:
        values = [v for value in params.get(name, []) for v in value.split(",") if v.strip()]
        if values:
            parameters[name] = values if name in ("start", "end") else values[0]
    return parameters, filters


def parse_request(
    body: Mapping[str, Any],
    *,
    ontology: Ontology,
    genes: GeneCatalogue,
) -> BeaconRequest:
    """A Beacon v2 request body (beaconRequestBody.json) as a `BeaconRequest`.

    Raises `BeaconRequestError` naming the field for what cannot be answered at all (a
    malformed coordinate, a granularity that is not one); anything the node merely does not
    know (an unknown filter, a variant type) becomes a warning and is left out of the query.
    """
    if not isinstance(body, Mapping):
        raise BeaconRequestError("the request body must be a JSON object")
    meta = body.get("meta") or {}
    query = body.get("query") or {}
    if not isinstance(meta, Mapping) or not isinstance(query, Mapping):
        raise BeaconRequestError("meta and query must be JSON objects")
    request = BeaconRequest()
    granularity = query.get("requestedGranularity", "boolean")
    if granularity not in GRANULARITIES:
        raise BeaconRequestError(
            f"query.requestedGranularity must be one of {', '.join(GRANULARITIES)}, "
            f"not {granularity!r}"
        )
    request.granularity = granularity
    test_mode = query.get("testMode", False)
    if not isinstance(test_mode, bool):
        raise BeaconRequestError("query.testMode must be true or false")
    request.test_mode = test_mode
    filters = query.get("filters") or []
    if not isinstance(filters, list):
        raise BeaconRequestError("query.filters must be a list of filtering terms")
    if len(filters) > MAX_FILTERS:
        raise BeaconRequestError(f"query.filters: at most {MAX_FILTERS} filters per query")
    for position, item in enumerate(filters):
        _add_filter(request, item, f"query.filters[{position}]", ontology=ontology, genes=genes)
    parameters = query.get("requestParameters") or {}
    if isinstance(parameters, list):  # the spec allows a list of parameter objects
        merged: dict[str, Any] = {}
        for item in parameters:
            if isinstance(item, Mapping):
                merged.update(item)
        parameters = merged
    if not isinstance(parameters, Mapping):
        raise BeaconRequestError("query.requestParameters must be a JSON object")
    request.request_parameters = dict(parameters)
    _add_parameters(request, parameters, genes=genes)
    datasets = parameters.get("datasets") or query.get("datasets") or []
    if isinstance(datasets, Mapping):
        datasets = datasets.get("datasetIds") or []
    if isinstance(datasets, str):
        datasets = [datasets]
    request.datasets = [str(item) for item in datasets]
    return request


def _add_filter(
    request: BeaconRequest,
    item: Any,
    where: str,
    *,
    ontology: Ontology,
    genes: GeneCatalogue,
) -> None:
    if isinstance(item, str):
        item = {"id": item}
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise BeaconRequestError(f"{where}: a filtering term needs an id (text)")
    identifier = item["id"].strip()
    request.filter_ids.append(identifier)
    if identifier[:3].upper() == "HP:":
        identifier = identifier.upper()
    if "operator" in item or "value" in item:
        _add_alphanumeric_filter(request, item, where)
        return
    if identifier in SEX_TERMS:
        request.sexes.append(SEX_TERMS[identifier])
        return
    if _HPO.match(identifier):
        include = item.get("includeDescendantTerms", True)
        similarity = item.get("similarity", "exact")
        if not isinstance(include, bool):
            raise BeaconRequestError(f"{where}.includeDescendantTerms must be true or false")
        if similarity not in SIMILARITIES:
            raise BeaconRequestError(
                f"{where}.similarity must be one of {', '.join(SIMILARITIES)}, not {similarity!r}"
            )
        try:
            hpo_id = ontology.resolve(identifier).hpo_id
        except (UnknownTermError, ObsoleteTermError) as error:
            request.warnings.append(f"{where}: {error}; the filter was ignored")
            return
        request.term_filters.append(TermFilter(hpo_id, include, similarity))
        return
    if _DISEASE.match(identifier):
        prefix, number = identifier.split(":", 1)
        # The prefixes the node stores (cases/interchange/fields.py reads the same variants).
        prefix = {"ORPHANET": "ORPHA", "MIM": "OMIM"}.get(prefix.upper(), prefix.upper())
        request.disease_ids.append(f"{prefix}:{number}")
        return
    if _GENE.match(identifier):
        _add_gene(request, identifier, where, genes=genes)
        return
    request.warnings.append(
        f"{where}: {identifier!r} is not a filtering term of this Beacon (see /beacon/"
        "filtering_terms); the filter was ignored"
    )


def _add_alphanumeric_filter(request: BeaconRequest, item: Mapping[str, Any], where: str) -> None:
    identifier, operator = item["id"].strip(), item.get("operator", "=")
    value = str(item.get("value", "")).strip()
    if identifier.lower() == "sex" and operator == "=":
        sex = {"female": "FEMALE", "male": "MALE", "other": "OTHER", "unknown": "OTHER"}.get(
            value.lower(), SEX_TERMS.get(value)
        )
        if sex:
            request.sexes.append(sex)
            return
    request.warnings.append(
        f"{where}: the filter {identifier} {operator} {value!r} is not supported by this Beacon; "
        "the filter was ignored"
    )


def _add_gene(request: BeaconRequest, identifier: str, where: str, *, genes: GeneCatalogue) -> None:
    try:
        request.gene_ids.append(genes.resolve(identifier).gene_id)
    except GeneLookupError as error:
        # A gene nobody can hold: no case lists it, and dropping the filter would count the rest.
        request.warnings.append(f"{where}: {error}")
        request.matches_nothing = True


def _add_parameters(
    request: BeaconRequest, parameters: Mapping[str, Any], *, genes: GeneCatalogue
) -> None:
    gene = parameters.get("geneId")
    if gene:
        if not isinstance(gene, str):
            raise BeaconRequestError("requestParameters.geneId must be a gene id or symbol (text)")
        _add_gene(request, gene.strip(), "requestParameters.geneId", genes=genes)
    start = _coordinates(parameters.get("start"), "start")
    end = _coordinates(parameters.get("end"), "end")
    reference_name = str(parameters.get("referenceName") or "").strip()
    if (start or end) and not reference_name:
        raise BeaconRequestError(
            "requestParameters.referenceName is required with start and end (a chromosome, e.g. 17)"
        )
    if end and not start:
        raise BeaconRequestError("requestParameters.start is required with end")
    if len(start) == 2 and len(end) != 2:
        raise BeaconRequestError("requestParameters: a bracket query gives two starts and two ends")
    for name, values in (("start", start), ("end", end)):
        if len(values) == 2 and values[0] > values[1]:
            raise BeaconRequestError(
                f"requestParameters.{name}: the first value is above the second"
            )
    if len(start) == 1 and len(end) == 1 and end[0] <= start[0]:
        raise BeaconRequestError("requestParameters.end must be after start (0-based, exclusive)")
    reference_bases = str(parameters.get("referenceBases") or "").strip().upper()
    alternate_bases = str(parameters.get("alternateBases") or "").strip().upper()
    for name, bases in (("referenceBases", reference_bases), ("alternateBases", alternate_bases)):
        if bases and not re.fullmatch(r"[ACGTN]+", bases):
            raise BeaconRequestError(f"requestParameters.{name} must be bases (A, C, G, T or N)")
    if start and len(start) == 1 and not end and not alternate_bases:
        raise BeaconRequestError(
            "requestParameters: a sequence query (one start, no end) needs alternateBases"
        )
    assembly = str(parameters.get("assemblyId") or "").strip()
    if assembly and assembly.lower() not in _ASSEMBLIES:
        request.warnings.append(
            f"requestParameters.assemblyId: {assembly!r} is not an assembly of this node "
            "(GRCh37, GRCh38); nothing can match"
        )
        request.matches_nothing = True
    if parameters.get("variantType"):
        request.warnings.append(
            "requestParameters.variantType is not supported by this Beacon; it was ignored"
        )
    if start:
        request.variant = VariantQuery(
            assembly=_ASSEMBLIES.get(assembly.lower(), ""),
            reference_name=_chromosome(reference_name),
            start=tuple(start),
            end=tuple(end),
            reference_bases=reference_bases if reference_bases != "N" else "",
            alternate_bases=alternate_bases if alternate_bases != "N" else "",
        )


def _coordinates(value: Any, name: str) -> list[int]:
    if value is None or value == "" or value == []:
        return []
    values = value if isinstance(value, list) else [value]
    try:
        numbers = [int(str(item).strip()) for item in values]
    except ValueError:
        raise BeaconRequestError(
            f"requestParameters.{name} must be one or two whole numbers (0-based positions)"
        ) from None
    if not 1 <= len(numbers) <= 2 or min(numbers) < 0:
        raise BeaconRequestError(
            f"requestParameters.{name} must be one or two positions of 0 or more"
        )
    return numbers


def _chromosome(name: str) -> str:
    name = name.strip()
    if name.lower().startswith("chr"):
        name = name[3:]
    return {"M": "MT", "23": "X", "24": "Y"}.get(name.upper(), name.upper())
