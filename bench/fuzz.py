"""Fuzzing the MME API and the local REST API from their OpenAPI schema (schemathesis).

    .venv/bin/python bench/fuzz.py schema OUT.json      # the schema schemathesis reads
    .venv/bin/python bench/fuzz.py setup DIR            # a clinician, an API token, a peer, cases
    .venv/bin/python bench/fuzz.py summary ACCESS_LOG REPORT.json

`bench/fuzz.sh` runs these around a live gunicorn; tests/test_hostile_input.py runs a short
version in-process with the same schema. The schema is the one drf-spectacular publishes, with
the MME request and answers described by our own MME JSON Schema (federation/schemas/mme.json)
instead of "any object": schemathesis then builds patients with features, genes and variants
(and, in negative mode, every way of breaking them), not just random objects, and checks our
answers against the MME schema too.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import django

ROOT = Path(__file__).resolve().parents[1]

# The MME documents our schema describes, and where they go in the OpenAPI document.
_MME_DEFINITIONS = {
    "request": "MmeRequest",
    "response": "MmeResponse",
    "heartbeatResponse": "MmeHeartbeatResponse",
    "metricsResponse": "MmeMetricsResponse",
}
_MME_ANSWERS = {
    ("/mme/match", "post"): "MmeResponse",
    ("/mme/heartbeat", "get"): "MmeHeartbeatResponse",
    ("/mme/metrics", "get"): "MmeMetricsResponse",
}
# JSON Schema keywords OpenAPI 3.0 does not know: dropped, so schemathesis reads the rest.
_UNKNOWN_KEYWORDS = {"$anchor", "$schema", "$id", "$comment", "errorMessage"}


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")
    django.setup()


def fuzzing_schema() -> dict[str, Any]:
    """The node's OpenAPI document, with the MME bodies described by the MME JSON Schema."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    from matchmaker.federation.schema import schema_document

    generated = SchemaGenerator().get_schema(request=None, public=True)
    document: dict[str, Any] = json.loads(OpenApiJsonRenderer().render(generated))
    mme = schema_document()
    components = document.setdefault("components", {}).setdefault("schemas", {})
    names = {
        name: _MME_DEFINITIONS.get(name, f"Mme{name[0].upper()}{name[1:]}") for name in mme["$defs"]
    }
    for name, definition in mme["$defs"].items():
        components[names[name]] = _openapi_definition(definition, names)

    match = document["paths"]["/mme/match"]["post"]
    for media_type in match["requestBody"]["content"].values():
        media_type["schema"] = {"$ref": "#/components/schemas/MmeRequest"}
    for (path, method), answer in _MME_ANSWERS.items():
        ok = document["paths"][path][method]["responses"]["200"]
        ok["content"] = {
            media: {"schema": {"$ref": f"#/components/schemas/{answer}"}}
            for media in ("application/vnd.ga4gh.matchmaker.v1.1+json",)
        }
    return document


def _openapi_definition(definition: Any, names: dict[str, str]) -> Any:
    if isinstance(definition, list):
        return [_openapi_definition(item, names) for item in definition]
    if not isinstance(definition, dict):
        return definition
    converted = {}
    for key, value in definition.items():
        if key in _UNKNOWN_KEYWORDS:
            continue
        if key == "$ref":
            # "#/$defs/patient" -> "#/components/schemas/MmePatient". In OpenAPI 3.0 a $ref's
            # siblings (descriptions) are ignored anyway.
            return {"$ref": "#/components/schemas/" + names[value.rsplit("/", 1)[-1]]}
        if key == "properties":
            converted[key] = {name: _openapi_definition(sub, names) for name, sub in value.items()}
        else:
            converted[key] = _openapi_definition(value, names)
    return converted


def set_up_fuzzing_data() -> dict[str, Any]:
    """A clinician with an API token, a peer with a token, and cases and matches to find.

    Idempotent: an earlier run's tokens are deleted. Returns the keys and the ids that exist
    (`known_ids`, for `flatmap_path_parameters`).
    """
    from django.contrib.auth.models import User

    from matchmaker.cases.models import Institution, Membership
    from matchmaker.cases.records import CaseRecord, FeatureRecord, GenomicFeatureRecord
    from matchmaker.casework.services import submit_case
    from matchmaker.casework.services.matches import run_matching
    from matchmaker.federation.models import Peer
    from matchmaker.federation.services import add_peer
    from matchmaker.web.services import create_api_token

    institution, _ = Institution.objects.get_or_create(
        name="Fuzzing Genetics",
        defaults={"contact_name": "Fuzz team", "contact_email": "fuzz@example.org"},
    )
    user, created = User.objects.get_or_create(username="fuzzer")
    if created:
        user.set_unusable_password()
        user.save()
        Membership.objects.create(user=user, institution=institution)
    user.api_tokens.all().delete()
    _, api_key = create_api_token(user, name="bench/fuzz.sh")

    Peer.objects.filter(name="fuzz-peer").delete()
    peer_token = "fuzz-" + os.urandom(20).hex()
    peer = add_peer(
        "fuzz-peer",
        base_url="https://fuzz-peer.invalid/mme",
        inbound_token=peer_token,
        description="bench/fuzz.sh: schemathesis",
    )
    # The fuzzer sends thousands of requests a minute; the rate limit is tested elsewhere.
    Peer.objects.filter(pk=peer.pk).update(rate_limit_per_minute=10_000_000)

    if not institution.cases.exists():
        for number, genes in enumerate([("NGLY1",), ("NGLY1",), ("SCN1A",), ()]):
            case = submit_case(
                CaseRecord(
                    label=f"fuzz-{number}",
                    features=(FeatureRecord("HP:0001250"), FeatureRecord("HP:0001263")),
                    genomic_features=tuple(GenomicFeatureRecord(gene_id=g) for g in genes),
                    sex="FEMALE",
                ),
                institution=institution,
                owner=user,
                consented=True,
            )
            run_matching(case.pk)

    from matchmaker.casework.models import Match

    known_ids = {
        "public_id": list(institution.cases.values_list("public_id", flat=True)),
        "match_id": list(
            Match.objects.filter(case__institution=institution).values_list("pk", flat=True)
        ),
    }
    return {"api_token": api_key, "peer_token": peer_token, "known_ids": known_ids}


def headers_of(data: dict[str, Any]) -> dict[str, str]:
    """Both credentials on every request: each API reads only its own header."""
    return {"Authorization": f"Token {data['api_token']}", "X-Auth-Token": data["peer_token"]}


# Ids of rows that exist, so that some generated requests reach a real case or match instead of
# a 404. Filled by the caller (the test fixture, or SCHEMATHESIS_HOOKS with FUZZ_KNOWN_IDS).
KNOWN_IDS: dict[str, list[Any]] = json.loads(os.environ.get("FUZZ_KNOWN_IDS", "{}"))


def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """schemathesis hook: half the time, an id that exists in place of a generated one.

    Never for DELETE: deleting the few known cases would leave the other operations 404s.
    """
    from hypothesis import strategies

    if context.operation is not None and context.operation.method.upper() == "DELETE":
        return strategies.just(path_parameters)
    known = [
        {**path_parameters, name: value}
        for name, ids in KNOWN_IDS.items()
        if name in (path_parameters or {})
        for value in ids
    ]
    if not known:
        return strategies.just(path_parameters)
    return strategies.one_of(strategies.just(path_parameters), strategies.sampled_from(known))


_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) ')


def summarise(access_log: Path, report: Path | None) -> dict[str, Any]:
    """Requests and 5xx answers from gunicorn's access log; failures from schemathesis' report."""
    statuses: Counter[str] = Counter()
    server_errors: Counter[str] = Counter()
    for line in access_log.read_text(errors="replace").splitlines():
        found = _ACCESS_LINE.search(line)
        if found is None:
            continue
        statuses[found["status"]] += 1
        if found["status"].startswith("5"):
            server_errors[f"{found['method']} {found['path'].split('?')[0]}"] += 1
    summary: dict[str, Any] = {
        "requests": sum(statuses.values()),
        "server_errors_5xx": sum(server_errors.values()),
        "by_status": dict(sorted(statuses.items())),
        "5xx_by_operation": dict(server_errors.most_common(10)),
    }
    if report is not None and report.exists():
        summary.update(_schemathesis_figures(json.loads(report.read_text())))
    return summary


def _schemathesis_figures(report: dict[str, Any]) -> dict[str, Any]:
    """What schemathesis' JSON run report says: test cases, and distinct failures by kind."""
    failures = report.get("failures") or []
    return {
        "test_cases": report.get("test_cases", {}).get("generated"),
        "failures": sum(int(failure.get("count", 1)) for failure in failures),
        "failures_by_kind": {
            f"{failure.get('code')} {failure.get('title')}": failure.get("operations")
            for failure in failures
        },
        "errors": len(report.get("errors") or []),
        "seconds": round(float(report.get("running_time") or 0), 1),
    }


if KNOWN_IDS:
    # Imported by schemathesis' command line (SCHEMATHESIS_HOOKS=bench.fuzz): register the hook.
    import schemathesis

    schemathesis.hook(flatmap_path_parameters)


def main(argv: list[str]) -> int:
    _setup_django()
    command, *arguments = argv
    if command == "schema":
        Path(arguments[0]).write_text(json.dumps(fuzzing_schema(), indent=1))
    elif command == "setup":
        data = set_up_fuzzing_data()
        folder = Path(arguments[0])
        (folder / "api-token").write_text(data["api_token"])
        (folder / "peer-token").write_text(data["peer_token"])
        (folder / "known-ids.json").write_text(json.dumps(data["known_ids"]))
    elif command == "summary":
        report = Path(arguments[1]) if len(arguments) > 1 else None
        print(json.dumps(summarise(Path(arguments[0]), report)))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
