"""MME API versions in media types (mme-api.md §1.4).

A request states its version in `Content-Type` (1.1) or in `Accept` (1.0, and what most deployed
nodes still send). We speak every 1.x (minor versions are compatible both ways), answer in the
minor version asked, treat plain `application/json` as our default version, and refuse any
other major version with 406.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUPPORTED_MAJOR = 1
SUPPORTED_VERSIONS = ("1.0", "1.1")
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
DEFAULT_VERSION = LATEST_VERSION

_VERSIONED = re.compile(
    r"^application/vnd\.ga4gh\.matchmaker\.v(?P<major>\d{1,3})\.(?P<minor>\d{1,3})\+json$",
    re.IGNORECASE,
)
# The join protocol's own example uses the media type without a version.
_UNVERSIONED = "application/vnd.ga4gh.matchmaker+json"
JSON_MEDIA_TYPES = frozenset({"application/json", _UNVERSIONED})


def media_type_for(version: str) -> str:
    return f"application/vnd.ga4gh.matchmaker.v{version}+json"


ACCEPTED_MEDIA_TYPES = tuple(media_type_for(version) for version in SUPPORTED_VERSIONS)


class UnsupportedVersionError(Exception):
    def __init__(self, requested: str) -> None:
        super().__init__(
            f"unsupported API version {requested}; this node speaks "
            f"{' and '.join(SUPPORTED_VERSIONS)} (any 1.x)"
        )
        self.requested = requested


@dataclass(frozen=True, slots=True)
class NegotiatedVersion:
    version: str  # "1.0", "1.1", ... the version we answer in
    source: str  # "content-type", "accept" or "default"

    @property
    def media_type(self) -> str:
        return media_type_for(self.version)


def bare_media_type(header: str) -> str:
    """`application/json; charset=UTF-8` -> `application/json` (lower case)."""
    return header.split(";", 1)[0].strip().lower()


def _version_in(media_type: str) -> tuple[int, int] | None:
    found = _VERSIONED.match(media_type)
    if found is None:
        return None
    return int(found["major"]), int(found["minor"])


def negotiate_version(content_type: str, accept: str) -> NegotiatedVersion:
    """The version to answer in: from `Content-Type`, else `Accept`, else our default.

    Raises `UnsupportedVersionError` when the version asked is not a 1.x. In `Accept`, a peer may
    list several versions; the first 1.x wins over others, and only a list without any 1.x is
    refused.
    """
    stated = _version_in(bare_media_type(content_type)) if content_type else None
    if stated is not None:
        major, minor = stated
        if major != SUPPORTED_MAJOR:
            raise UnsupportedVersionError(f"{major}.{minor}")
        return NegotiatedVersion(f"{major}.{minor}", "content-type")

    offered = [_version_in(bare_media_type(part)) for part in accept.split(",") if part.strip()]
    versions = [version for version in offered if version is not None]
    for major, minor in versions:
        if major == SUPPORTED_MAJOR:
            return NegotiatedVersion(f"{major}.{minor}", "accept")
    if versions:
        major, minor = versions[0]
        raise UnsupportedVersionError(f"{major}.{minor}")
    return NegotiatedVersion(DEFAULT_VERSION, "default")


def is_json_content_type(content_type: str) -> bool:
    """Whether a request body may be read as JSON: plain JSON or any MME media type."""
    media_type = bare_media_type(content_type)
    return media_type in JSON_MEDIA_TYPES or _version_in(media_type) is not None
