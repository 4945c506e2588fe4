"""The GA4GH Beacon v2 API at /beacon/: framework endpoints, individuals, g_variants, datasets.

Every answer is a Beacon v2 response document (framework/json/responses in the specification);
errors are `beaconErrorResponse` documents with the HTTP status in `error.errorCode`. Answers are
booleans or counts over the shareable cases, never records; every request is audited.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from matchmaker.beacon import selectors
from matchmaker.beacon.authentication import (
    UnknownTokenError,
    beacon_client_of,
    coarser,
    granted_granularity,
    rate_limit_wait,
)
from matchmaker.beacon.models import BeaconClient
from matchmaker.beacon.protocol import (
    API_VERSION,
    BeaconRequest,
    BeaconRequestError,
    parse_request,
    request_from_get,
)
from matchmaker.beacon.services import record_beacon_query
from matchmaker.lib.client_address import client_address
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo

# A Beacon request is a few filters; anything larger is refused before it is parsed.
MAX_BODY_BYTES = 100_000

_ENTRY_TYPES: dict[str, dict[str, Any]] = {
    "individual": {
        "id": "individual",
        "name": "Individual",
        "ontologyTermForThisType": {"id": "NCIT:C25190", "label": "Person"},
        "partOfSpecification": "Beacon v2.0.0",
        "description": "A pseudonymised rare-disease case: phenotype, candidate genes, diagnoses.",
        "defaultSchema": {
            "id": "ga4gh-beacon-individual-v2.0.0",
            "name": "Default schema for an individual",
            "referenceToSchemaDefinition": "https://raw.githubusercontent.com/ga4gh-beacon/"
            "beacon-v2/main/models/json/beacon-v2-default-model/individuals/defaultSchema.json",
            "schemaVersion": "v2.0.0",
        },
        "additionallySupportedSchemas": [],
        "nonFilteredQueriesAllowed": True,
    },
    "genomicVariant": {
        "id": "genomicVariant",
        "name": "Genomic Variants",
        "ontologyTermForThisType": {"id": "ENSGLOSSARY:0000092", "label": "Variant"},
        "partOfSpecification": "Beacon v2.0.0",
        "description": "The candidate variants recorded with the cases.",
        "defaultSchema": {
            "id": "ga4gh-beacon-variant-v2.0.0",
            "name": "Default schema for a genomic variation",
            "referenceToSchemaDefinition": "https://raw.githubusercontent.com/ga4gh-beacon/"
            "beacon-v2/main/models/json/beacon-v2-default-model/genomicVariations/"
            "defaultSchema.json",
            "schemaVersion": "v2.0.0",
        },
        "additionallySupportedSchemas": [],
        "nonFilteredQueriesAllowed": False,
    },
    "dataset": {
        "id": "dataset",
        "name": "Dataset",
        "ontologyTermForThisType": {"id": "NCIT:C47824", "label": "Data set"},
        "partOfSpecification": "Beacon v2.0.0",
        "description": "The shareable cases of one institution (or of the whole node).",
        "defaultSchema": {
            "id": "ga4gh-beacon-dataset-v2.0.0",
            "name": "Default schema for datasets",
            "referenceToSchemaDefinition": "https://raw.githubusercontent.com/ga4gh-beacon/"
            "beacon-v2/main/models/json/beacon-v2-default-model/datasets/defaultSchema.json",
            "schemaVersion": "v2.0.0",
        },
        "aCollectionOf": [{"id": "individual", "name": "Individuals"}],
        "additionallySupportedSchemas": [],
        "nonFilteredQueriesAllowed": True,
    },
}
_SCHEMA_OF = {
    entry_type: {"entityType": entry_type, "schema": definition["defaultSchema"]["id"]}
    for entry_type, definition in _ENTRY_TYPES.items()
}


class _BeaconView(View):
    """Authenticate, limit, answer, audit; every failure becomes a Beacon error response."""

    endpoint: ClassVar[str]
    # Framework descriptions are public; anything derived from cases needs a granted caller.
    needs_grant: ClassVar[bool] = False

    @method_decorator(csrf_exempt)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        started = time.perf_counter()
        self.audit: dict[str, Any] = {}
        self.client: BeaconClient | None = None
        try:
            self.client = beacon_client_of(request)
        except UnknownTokenError:
            return self._finish(
                request, started, _error(401, "unknown Beacon client token (Authorization: Bearer)")
            )
        wait = rate_limit_wait(request, self.client)
        if wait is not None:
            response: HttpResponseBase = _error(
                429, "too many Beacon queries this minute; retry later"
            )
            response["Retry-After"] = str(max(1, math.ceil(wait)))
            if self.client is None:
                return response  # a stranger's flood costs a cache hit each, and no row
            return self._finish(request, started, response)
        if self.needs_grant and granted_granularity(self.client) is None:
            response = _error(
                401,
                "this Beacon answers registered clients only: send Authorization: Bearer <token> "
                "(the node's operators register Beacon Networks)",
            )
            response["WWW-Authenticate"] = 'Bearer realm="beacon"'
            return self._finish(request, started, response)
        try:
            response = super().dispatch(request, *args, **kwargs)
        except BeaconRequestError as error:
            response = _error(error.status, error.message)
        return self._finish(request, started, response)

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = _error(405, f"{request.method} is not allowed here")
        # What View._allowed_methods() says (not in django-stubs): the methods this view defines.
        allowed = [name.upper() for name in self.http_method_names if hasattr(self, name)]
        response["Allow"] = ", ".join(allowed)
        return response

    def _finish(
        self, request: HttpRequest, started: float, response: HttpResponseBase
    ) -> HttpResponseBase:
        error = ""
        if response.status_code >= 400 and isinstance(response, JsonResponse):
            error = json.loads(response.content).get("error", {}).get("errorMessage", "")
        record_beacon_query(
            client=self.client,
            remote_address=client_address(request),
            endpoint=self.endpoint,
            method=request.method or "",
            status_code=response.status_code,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=error,
            **self.audit,
        )
        return response


def _meta(**extra: Any) -> dict[str, Any]:
    return {
        "beaconId": settings.BEACON_ID,
        "apiVersion": API_VERSION,
        "returnedSchemas": [],
        **extra,
    }


def _request_summary(request: BeaconRequest | None, granularity: str) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "requestedSchemas": [],
        "pagination": {"skip": 0, "limit": 0},
        "requestedGranularity": granularity,
    }
    if request is not None:
        summary["filters"] = request.filter_ids
        summary["testMode"] = request.test_mode
    return summary


def _error(status: int, message: str, request: BeaconRequest | None = None) -> JsonResponse:
    body = {
        "meta": _meta(
            returnedGranularity="boolean",
            receivedRequestSummary=_request_summary(
                request, request.granularity if request else "boolean"
            ),
        ),
        "error": {"errorCode": status, "errorMessage": message},
    }
    return JsonResponse(body, status=status)


def _info_meta(entity: str, schema: str) -> dict[str, Any]:
    return _meta(returnedSchemas=[{"entityType": entity, "schema": schema}])


def _beacon_info() -> dict[str, Any]:
    return {
        "id": settings.BEACON_ID,
        "name": settings.BEACON_NAME,
        "apiVersion": API_VERSION,
        "environment": "dev" if settings.DEBUG else "prod",
        "organization": {
            "id": settings.BEACON_ORGANIZATION_ID,
            "name": settings.BEACON_ORGANIZATION_NAME,
            "contactUrl": settings.BEACON_CONTACT_URL,
        },
        "description": "Discovery over pseudonymised rare-disease cases (HPO phenotypes, "
        "candidate genes and variants): booleans or counts, never records.",
    }


class BeaconInfoApi(_BeaconView):
    endpoint = "info"

    def get(self, request: HttpRequest) -> HttpResponse:
        return JsonResponse(
            {"meta": _info_meta("info", "beacon-info-v2.0.0"), "response": _beacon_info()}
        )


class ServiceInfoApi(_BeaconView):
    endpoint = "service-info"

    def get(self, request: HttpRequest) -> HttpResponse:
        info = _beacon_info()
        return JsonResponse(
            {
                "id": info["id"],
                "name": info["name"],
                "type": {"group": "org.ga4gh", "artifact": "beacon", "version": API_VERSION},
                "description": info["description"],
                "organization": {
                    "name": settings.BEACON_ORGANIZATION_NAME,
                    "url": request.build_absolute_uri("/"),
                },
                "contactUrl": settings.BEACON_CONTACT_URL,
                "environment": info["environment"],
                "version": API_VERSION,
            }
        )


def _root(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("beacon:info")).rstrip("/")


class BeaconMapApi(_BeaconView):
    endpoint = "map"

    def get(self, request: HttpRequest) -> HttpResponse:
        root = _root(request)
        endpoint_sets = {
            "individual": {"entryType": "individual", "rootUrl": f"{root}/individuals"},
            "genomicVariant": {"entryType": "genomicVariant", "rootUrl": f"{root}/g_variants"},
            "dataset": {"entryType": "dataset", "rootUrl": f"{root}/datasets"},
        }
        for endpoint_set in endpoint_sets.values():
            endpoint_set["filteringTermsUrl"] = f"{root}/filtering_terms"
        return JsonResponse(
            {
                "meta": _info_meta("map", "beacon-map-v2.0.0"),
                "response": {
                    "$schema": "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
                    "framework/json/configuration/beaconMapSchema.json",
                    "endpointSets": endpoint_sets,
                },
            }
        )


class BeaconConfigurationApi(_BeaconView):
    endpoint = "configuration"

    def get(self, request: HttpRequest) -> HttpResponse:
        return JsonResponse(
            {
                "meta": _info_meta("configuration", "beacon-configuration-v2.0.0"),
                "response": {
                    "$schema": "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
                    "framework/json/configuration/beaconConfigurationSchema.json",
                    "maturityAttributes": {"productionStatus": "DEV" if settings.DEBUG else "PROD"},
                    "securityAttributes": {
                        "defaultGranularity": "boolean",
                        "securityLevels": ["PUBLIC", "REGISTERED"]
                        if settings.BEACON_ANONYMOUS_BOOLEAN
                        else ["REGISTERED"],
                    },
                    "entryTypes": _ENTRY_TYPES,
                },
            }
        )


class EntryTypesApi(_BeaconView):
    endpoint = "entry_types"

    def get(self, request: HttpRequest) -> HttpResponse:
        return JsonResponse(
            {
                "meta": _info_meta("entryType", "beacon-entry-types-v2.0.0"),
                "response": {"entryTypes": _ENTRY_TYPES},
            }
        )


class FilteringTermsApi(_BeaconView):
    endpoint = "filtering_terms"
    # Which genes and terms occur is itself a boolean answer about the cases.
    needs_grant = True

    def get(self, request: HttpRequest) -> HttpResponse:
        ontology = get_hpo()
        terms = [
            {
                "id": term.identifier,
                "label": term.label,
                "type": term.kind,
                "scopes": list(term.scopes),
            }
            for term in selectors.filtering_terms()
        ]
        return JsonResponse(
            {
                "meta": _info_meta("filteringTerm", "beacon-filtering-terms-v2.0.0"),
                "response": {
                    "filteringTerms": terms,
                    "resources": [
                        {
                            "id": "hp",
                            "name": "Human Phenotype Ontology",
                            "url": "https://purl.obolibrary.org/obo/hp.owl",
                            "version": ontology.release,
                            "nameSpacePrefix": "HP",
                            "iriPrefix": "http://purl.obolibrary.org/obo/HP_",
                        },
                        {"id": "omim", "name": "OMIM", "nameSpacePrefix": "OMIM"},
                        {"id": "orpha", "name": "Orphanet", "nameSpacePrefix": "ORPHA"},
                        {"id": "ncbigene", "name": "NCBI Gene", "nameSpacePrefix": "NCBIGene"},
                        {"id": "ncit", "name": "NCI Thesaurus", "nameSpacePrefix": "NCIT"},
                    ],
                },
            }
        )


class _QueryView(_BeaconView):
    """An entry-type query: GET parameters or a POST body, answered with exists or a count."""

    needs_grant = True
    entry_type: ClassVar[str]

    def get(self, request: HttpRequest) -> HttpResponse:
        parameters, filters = request_from_get(dict(request.GET.lists()))
        query: dict[str, Any] = {"requestParameters": parameters, "filters": filters}
        for name in ("requestedGranularity", "testMode"):
            if name in request.GET:
                value = request.GET[name]
                query[name] = value.lower() == "true" if name == "testMode" else value
        datasets = [d for value in request.GET.getlist("datasets") for d in value.split(",") if d]
        if datasets:
            query["datasets"] = datasets
        return self._answer({"query": query})

    def post(self, request: HttpRequest) -> HttpResponse:
        if len(request.body) > MAX_BODY_BYTES:
            raise BeaconRequestError(f"the request body is over {MAX_BODY_BYTES} bytes", status=413)
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise BeaconRequestError("the request body is not JSON") from None
        return self._answer(body)

    def count(self, beacon_request: BeaconRequest) -> int:
        raise NotImplementedError

    def _answer(self, body: Any) -> HttpResponse:
        beacon_request = parse_request(body, ontology=get_hpo(), genes=get_gene_catalogue())
        self.audit = {
            "requested_granularity": beacon_request.granularity,
            "test_mode": beacon_request.test_mode,
            "filters": beacon_request.filter_ids,
            "request_parameters": beacon_request.request_parameters,
        }
        if beacon_request.granularity == "record":
            return _error(
                403,
                "record-level answers are not offered by this Beacon: ask for count or boolean",
                beacon_request,
            )
        unknown = selectors.unknown_datasets(beacon_request)
        if unknown:
            return _error(
                404, f"no dataset {', '.join(unknown)} (see /beacon/datasets)", beacon_request
            )
        # needs_grant has refused callers without one.
        granted = granted_granularity(self.client) or "boolean"
        granularity = coarser(beacon_request.granularity, granted)
        count = self.count(beacon_request)
        info: dict[str, Any] = {}
        summary: dict[str, Any] = {"exists": count > 0}
        if granularity == "count":
            if count == 0 or count >= settings.BEACON_MIN_COUNT:
                summary["numTotalResults"] = count
            else:
                # A handful of patients with a rare combination can be recognised: below the
                # threshold only "present" is disclosed (docs/operations.md, "Beacon").
                granularity = "boolean"
                info["countPrecision"] = "present"
                info["countNote"] = (
                    f"fewer than {settings.BEACON_MIN_COUNT}: counts this small are only "
                    "reported as present"
                )
        if beacon_request.granularity != granularity and "countPrecision" not in info:
            info["granularityNote"] = (
                f"answered at {granularity} granularity, the finest this client is granted"
            )
        if beacon_request.warnings:
            info["warnings"] = beacon_request.warnings
        self.audit.update(
            returned_granularity=granularity,
            exists=summary["exists"],
            disclosed_count=summary.get("numTotalResults"),
        )
        document: dict[str, Any] = {
            "meta": _meta(
                returnedGranularity=granularity,
                returnedSchemas=[_SCHEMA_OF[self.entry_type]],
                receivedRequestSummary=_request_summary(beacon_request, beacon_request.granularity),
                testMode=beacon_request.test_mode,
            ),
            "responseSummary": summary,
        }
        if info:
            document["info"] = info
        return JsonResponse(document)


class IndividualsApi(_QueryView):
    endpoint = "individuals"
    entry_type = "individual"

    def count(self, beacon_request: BeaconRequest) -> int:
        return selectors.count_individuals(beacon_request)


class GenomicVariantsApi(_QueryView):
    endpoint = "g_variants"
    entry_type = "genomicVariant"

    def count(self, beacon_request: BeaconRequest) -> int:
        if (
            not beacon_request.gene_ids
            and beacon_request.variant.is_empty
            and not beacon_request.matches_nothing
        ):
            raise BeaconRequestError(
                "g_variants needs requestParameters.geneId or a position (referenceName and start)"
            )
        return selectors.count_variants(beacon_request)


class DatasetsApi(_BeaconView):
    endpoint = "datasets"

    def get(self, request: HttpRequest) -> HttpResponse:
        datasets = selectors.beacon_datasets()
        collections = [
            {
                "id": dataset.identifier,
                "name": dataset.name,
                "description": dataset.description,
                "dataUseConditions": {
                    "duoDataUse": [
                        {"id": term["id"], "label": term.get("label", ""), "version": "2021-02-23"}
                        for term in dataset.data_use
                    ]
                },
            }
            for dataset in datasets
        ]
        return JsonResponse(
            {
                "meta": _meta(
                    returnedGranularity="record",
                    returnedSchemas=[_SCHEMA_OF["dataset"]],
                    receivedRequestSummary=_request_summary(None, "record"),
                ),
                "responseSummary": {
                    "exists": bool(collections),
                    "numTotalResults": len(collections),
                },
                "response": {"collections": collections},
            }
        )
