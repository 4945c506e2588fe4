"""Normalise the gene identifiers MME peers send to one canonical gene, offline.

Peers mix Ensembl ids, Entrez ids and HGNC symbols in `genomicFeatures[].gene.id`
(mme-api.md §1.5), and mismatches between them silently lose matches (patientMatcher #117,
#122) or create wrong ones (patientMatcher #213, a symbol that fanned out to SKI and HHAT).
A `GeneCatalogue` turns any accepted spelling into one `Gene`, and says so when it cannot.

Accepted identifiers (surrounding whitespace is ignored, prefixes are case-insensitive):

- HGNC id: ``HGNC:1100``.
- NCBI (Entrez) gene id: ``NCBIGene:672``, ``Entrez:672``, ``EntrezGene:672``, ``ncbigene:672``,
  ``NCBI_Gene:672``, ``GeneID:672`` or a bare integer ``672``.
- Ensembl gene id: ``ENSG00000012048``, with an optional version (``.23``, ignored) and an optional
  ``ENSEMBL:`` prefix.
- Anything else is a gene symbol: current, previous or alias.

Resolution rules:

1. Structured ids (HGNC, Entrez, Ensembl) resolve exactly. When one id maps to more than one gene
   (org.Hs.eg.db maps 350 Ensembl ids to two or more Entrez genes) `AmbiguousGeneError` lists them
   all: picking one is how patientMatcher #213 produced wrong matches.
2. A symbol is looked up in this order, and the first step that finds anything decides:
   (a) the exact current symbol, even when it is also another gene's alias (``AR`` is the androgen
   receptor, not AREG or AKR1B1, whose aliases include ``AR``); (b) the current symbol ignoring case;
   (c) previous symbols, ignoring case; (d) alias symbols, ignoring case. A step that finds more than
   one gene raises `AmbiguousGeneError` with every candidate. Nothing is guessed.
3. An id of a kind the loaded source does not know (an Ensembl id when only the HPO gene list is
   loaded) raises `UnsupportedGeneIdentifierError` instead of claiming the gene does not exist.
4. Every lookup is a constant number of dict lookups, with no scans: a few microseconds per id
   for catalogues of 80k genes (see `bench/gene_catalogue.py`).
5. A caller that knows the chromosome of the variant in the gene (``resolve(identifier,
   chromosome="7")``) may use it to settle an ambiguity, and only that: of the candidates of rule
   1 or of the deciding step of rule 2, the one gene on that chromosome is returned, provided no
   other candidate's chromosome is unknown (it could be on that chromosome too). ``GARS`` in
   org.Hs.eg.db is GARS1 on chromosome 7 and GART on 21. The chromosome never overrides an
   unambiguous answer, not even one on another chromosome: the caller may warn about that.

`Gene.chromosome` is "1".."22", "X", "Y" or "MT", or "" when the source does not place the gene
on exactly one chromosome: unknown, unplaced ("Un", HGNC "reserved"), or on several. Genes of the
pseudoautosomal regions are listed on both X and Y (HGNC "Xp22.33 and Yp11.2", org.Hs.eg.db rows
"X" and "Y") and get "", as does the one org.Hs.eg.db gene listed on three autosomes.

Sources, and what each can resolve (`GeneCatalogue.supported_kinds`):

- HGNC complete set (`build_from_hgnc_complete_set`): everything, and the only source that
  separates previous symbols from aliases. Rows whose status is not "Approved" are skipped. The
  chromosome comes from the cytogenetic ``location`` ("7p14.3" is 7, "mitochondria" is MT).
- Bioconductor org.Hs.eg.db (`build_from_org_hs_eg_db`): NCBI Gene symbols, names, aliases and
  Ensembl ids, no HGNC ids. NCBI does not separate previous symbols from aliases, so both are
  "alias" here, and an old symbol that is also another gene's alias is ambiguous (``GARS``: the old
  symbol of GARS1, an alias of GART). NCBI also keeps phenotype-only records (gene type "unknown",
  e.g. HBD "hypophosphatemic bone disease") that reuse the symbol of a real gene; those records stay
  reachable by Entrez id, but their symbol does not compete with the real gene's. The chromosome
  comes from the ``chromosomes`` table, and the gene's GRCh38 span (`Gene.grch38_span`, from its
  first to its last transcribed base) from ``chromosome_locations`` (UCSC).
- HPO ``genes_to_phenotype.txt`` (`build_from_hpo_annotations`): current symbol and Entrez id of the
  ~5k genes with phenotype annotations; no chromosomes.

Canonical ids: ``NCBIGene:<entrez>`` when the Entrez id is known, else ``HGNC:<n>``, else the
Ensembl id. `merge_catalogues` combines sources; `GeneCatalogue.save`/`load` store a built
catalogue as gzipped JSON, so a process never has to re-read the 340 MB sqlite.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import gzip
import json
import os
import re
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NoReturn, ParamSpec, TypeVar

ALL_KINDS: Final = frozenset({"symbol", "previous_symbol", "alias", "hgnc", "entrez", "ensembl"})

_FORMAT: Final = "matchmaker-gene-catalogue"
_MAX_SHOWN_CHARS: Final = 100
# v2 added the chromosome column, v3 the GRCh38 span; `load` still reads v1 and v2 files, with
# unknown chromosomes and spans.
_FORMAT_VERSION: Final = 3
_READABLE_VERSIONS: Final = frozenset({1, 2, 3})
CHROMOSOMES: Final = frozenset([*(str(number) for number in range(1, 23)), "X", "Y", "MT"])
# The chromosome at the start of one part of an HGNC location: "7" in "7p14.3", "X" in "Xq28",
# "19" in "19 alternate reference locus"; nothing in "reserved", "unplaced" or "123q" (the
# lookahead stops "12" from matching there).
_HGNC_LOCATION_CHROMOSOME: Final = re.compile(r"(\d{1,2}|X|Y)(?!\d)")
_ENTREZ_PREFIXES: Final = frozenset({"ncbigene", "entrez", "entrezgene", "ncbi_gene", "geneid"})
_ENSEMBL_GENE: Final = re.compile(r"(ENSG\d+)(?:\.\d+)?", re.IGNORECASE)
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_HGNC_HEADER_START: Final = "hgnc_id\tsymbol\tname\t"
_HPO_HEADER_START: Final = "ncbi_gene_id\tgene_symbol\t"
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _paused_gc(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `function` with the cyclic garbage collector paused.

    Building a catalogue allocates ~1M small objects and no cycles; the collector's repeated full
    passes over them made loading org.Hs.eg.db 3-5x slower (1.4-2.7 s instead of 0.5 s).
    """

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return wrapper


@dataclass(frozen=True, slots=True)
class Gene:
    """One gene, as the catalogue's source describes it."""

    gene_id: str  # canonical: "NCBIGene:<entrez>", else "HGNC:<n>", else the Ensembl id
    symbol: str  # current approved symbol ("" only if the source has none)
    name: str = ""
    entrez_id: str | None = None
    hgnc_id: str | None = None  # "HGNC:1100"
    ensembl_ids: tuple[str, ...] = ()
    chromosome: str = ""  # "1".."22", "X", "Y", "MT"; "" if unknown or on several chromosomes
    # Where the gene lies on `chromosome` in GRCh38 (first and last base, 1-based, inclusive,
    # over all its transcripts); None if the source does not say.
    grch38_span: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class GeneRecord:
    """A gene plus the other symbols that lead to it; the unit a catalogue is built from.

    `symbol_indexed` is False when the gene's own symbol must not resolve to it, because the
    source (or a higher-priority source in a merge) gives that symbol to another gene.
    """

    gene: Gene
    previous_symbols: tuple[str, ...] = ()
    alias_symbols: tuple[str, ...] = ()
    symbol_indexed: bool = True


class GeneLookupError(LookupError):
    """An identifier that does not lead to exactly one gene; `str()` is the message."""

    def __init__(self, identifier: str, message: str) -> None:
        super().__init__(message)
        self.identifier = identifier
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error picklable (Celery results, multiprocessing) despite the custom __init__.
        return (type(self), (self.identifier, self.message))


class UnknownGeneError(GeneLookupError):
    """The identifier is well formed but no gene in the catalogue has it."""


class AmbiguousGeneError(GeneLookupError):
    """The identifier leads to more than one gene; `candidates` lists them all."""

    def __init__(self, identifier: str, message: str, candidates: tuple[Gene, ...]) -> None:
        super().__init__(identifier, message)
        self.candidates = candidates

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.identifier, self.message, self.candidates))


class UnsupportedGeneIdentifierError(GeneLookupError):
    """The identifier is of a kind the catalogue's source cannot resolve."""


@dataclass(frozen=True, slots=True)
class _Indexes:
    by_hgnc: dict[str, tuple[Gene, ...]]
    by_entrez: dict[str, tuple[Gene, ...]]
    by_ensembl: dict[str, tuple[Gene, ...]]  # version-less, upper case
    by_symbol: dict[str, tuple[Gene, ...]]
    by_symbol_folded: dict[str, tuple[Gene, ...]]  # keys are casefolded
    by_previous: dict[str, tuple[Gene, ...]]  # keys are casefolded
    by_alias: dict[str, tuple[Gene, ...]]  # keys are casefolded


def _build_indexes(records: Iterable[GeneRecord]) -> _Indexes:
    by_hgnc: defaultdict[str, list[Gene]] = defaultdict(list)
    by_entrez: defaultdict[str, list[Gene]] = defaultdict(list)
    by_ensembl: defaultdict[str, list[Gene]] = defaultdict(list)
    by_symbol: defaultdict[str, list[Gene]] = defaultdict(list)
    by_symbol_folded: defaultdict[str, list[Gene]] = defaultdict(list)
    by_previous: defaultdict[str, list[Gene]] = defaultdict(list)
    by_alias: defaultdict[str, list[Gene]] = defaultdict(list)
    for record in records:
        gene = record.gene
        if gene.hgnc_id:
            by_hgnc[gene.hgnc_id].append(gene)
        if gene.entrez_id:
            by_entrez[gene.entrez_id].append(gene)
        for ensembl_id in gene.ensembl_ids:
            by_ensembl[ensembl_id].append(gene)
        if gene.symbol and record.symbol_indexed:
            by_symbol[gene.symbol].append(gene)
            by_symbol_folded[gene.symbol.casefold()].append(gene)
        for symbol in record.previous_symbols:
            by_previous[symbol.casefold()].append(gene)
        for symbol in record.alias_symbols:
            by_alias[symbol.casefold()].append(gene)
    return _Indexes(
        by_hgnc=_freeze(by_hgnc),
        by_entrez=_freeze(by_entrez),
        by_ensembl=_freeze(by_ensembl),
        by_symbol=_freeze(by_symbol),
        by_symbol_folded=_freeze(by_symbol_folded),
        by_previous=_freeze(by_previous),
        by_alias=_freeze(by_alias),
    )


def _freeze(index: dict[str, list[Gene]]) -> dict[str, tuple[Gene, ...]]:
    # One gene can reach a key twice, e.g. through aliases "Skn" and "SKN", which fold together.
    return {
        key: (genes[0],) if len(genes) == 1 else tuple({id(g): g for g in genes}.values())
        for key, genes in index.items()
    }


def _parse_identifier(identifier: str) -> tuple[str, str]:
    """Return (kind, lookup key) for a stripped identifier; kind is hgnc|entrez|ensembl|symbol."""
    prefix, colon, rest = identifier.partition(":")
    if colon:
        folded_prefix = prefix.casefold()
        if folded_prefix == "hgnc" and rest.isascii() and rest.isdigit():
            return "hgnc", f"HGNC:{_without_leading_zeros(rest)}"
        if folded_prefix in _ENTREZ_PREFIXES and rest.isascii() and rest.isdigit():
            return "entrez", _without_leading_zeros(rest)
        if folded_prefix == "ensembl" and (match := _ENSEMBL_GENE.fullmatch(rest)):
            return "ensembl", match.group(1).upper()
        return "symbol", identifier
    if identifier.isascii() and identifier.isdigit():
        return "entrez", _without_leading_zeros(identifier)
    if match := _ENSEMBL_GENE.fullmatch(identifier):
        return "ensembl", match.group(1).upper()
    return "symbol", identifier


# What a gene symbol looks like (HGNC: letters, digits, "-", "@", "."; "C1orf112"), so that a
# symbol this catalogue does not know yet can be kept, and anything else is still refused.
_SYMBOL_SHAPE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._-]{0,31}")


def unresolved_gene(identifier: str, *, symbol: str = "") -> Gene | None:
    """A gene the catalogue does not know (yet), kept as submitted; None if not shaped like one.

    A peer on a newer HGNC release, or a case entered before `load_genes` brought in a newly
    approved symbol (CIROZ), names a real gene this catalogue lacks. Such a gene is kept so that
    it matches the same gene submitted the same way: its `gene_id` is the symbol in upper case
    when one is given (the form MME peers share most), else the structured id as normalised
    here ("NCBIGene:123", "HGNC:123", "ENSG..."). A canonical id can never take a symbol's form,
    so the two cannot collide. Identifiers with spaces or punctuation are not genes: None.
    """
    text = identifier.strip()
    kind, key = _parse_identifier(text)
    given_symbol = symbol.strip()
    if kind == "symbol":
        given_symbol = given_symbol or text
    if given_symbol and (
        _parse_identifier(given_symbol)[0] != "symbol" or not _SYMBOL_SHAPE.fullmatch(given_symbol)
    ):
        given_symbol = ""
    if kind == "symbol" and not given_symbol:
        return None
    structured_id = {"entrez": f"NCBIGene:{key}", "hgnc": key, "ensembl": key}.get(kind, "")
    if len(structured_id) > 32:
        return None
    return Gene(
        gene_id=given_symbol.upper() or structured_id,
        symbol=given_symbol.upper(),
        entrez_id=key if kind == "entrez" else None,
        hgnc_id=key if kind == "hgnc" else None,
        ensembl_ids=(key,) if kind == "ensembl" else (),
    )


def _without_leading_zeros(digits: str) -> str:
    # Not str(int(digits)): a peer could send 5000 digits, and int() refuses those with ValueError.
    return digits.lstrip("0") or "0"


def _normalised_chromosome(chromosome: str) -> str:
    """The chromosome as `Gene.chromosome` spells it: "chr7" is "7", "chrM" and "M" are "MT".

    Raises ValueError for anything that is not one of 1-22, X, Y, MT.
    """
    name = chromosome.strip()
    if name[:3].casefold() == "chr":
        name = name[3:]
    name = name.upper()
    if name == "M":
        name = "MT"
    if name not in CHROMOSOMES:
        raise ValueError(f"{_quoted(chromosome)} is not a chromosome (1-22, X, Y, MT)")
    return name


def _chromosome_from_hgnc_location(location: str) -> str:
    """The one chromosome an HGNC cytogenetic location names, else "".

    "7p14.3" is "7", "Xq28" is "X", "mitochondria" is "MT"; "reserved", "unplaced", "not on
    reference assembly" and locations on several chromosomes ("Xp22.33 and Yp11.2", "X and Y")
    are "".
    """
    text = location.strip().strip('"').strip()
    if text.casefold() == "mitochondria":
        return "MT"
    found: set[str] = set()
    for part in text.split(" and "):
        match = _HGNC_LOCATION_CHROMOSOME.match(part.strip())
        if match is None or match.group(1) not in CHROMOSOMES:
            return ""
        found.add(match.group(1))
    return found.pop() if len(found) == 1 else ""


def _quoted(identifier: str) -> str:
    """The identifier as messages show it: quoted, and cut short if a peer sent something huge."""
    if len(identifier) > _MAX_SHOWN_CHARS:
        return repr(identifier[:_MAX_SHOWN_CHARS] + "…")
    return repr(identifier)


def _describe_kind(kind: str) -> str:
    return {
        "hgnc": "an HGNC id",
        "entrez": "an NCBI Gene (Entrez) id",
        "ensembl": "an Ensembl gene id",
        "symbol": "a gene symbol",
    }[kind]


class GeneCatalogue:
    """Genes from one or more sources, indexed by every identifier kind the sources provide.

    Immutable after construction and safe to share between threads. See the module docstring
    for the resolution rules.
    """

    __slots__ = ("_indexes", "_records", "source", "supported_kinds")

    @_paused_gc
    def __init__(
        self, records: Iterable[GeneRecord], *, source: str, supported_kinds: Iterable[str]
    ) -> None:
        kinds = frozenset(supported_kinds)
        if unknown_kinds := kinds - ALL_KINDS:
            raise ValueError(f"unknown identifier kinds {sorted(unknown_kinds)}")
        self.source: str = source
        self.supported_kinds: frozenset[str] = kinds
        self._records: dict[str, GeneRecord] = {}
        for record in records:
            if record.gene.gene_id in self._records:
                raise ValueError(f"gene id {record.gene.gene_id} occurs twice in {source}")
            self._records[record.gene.gene_id] = record
        self._indexes = _build_indexes(self._records.values())

    def __repr__(self) -> str:
        return f"<GeneCatalogue {self.source!r}: {len(self)} genes>"

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Gene]:
        return (record.gene for record in self._records.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GeneCatalogue):
            return NotImplemented
        return (
            self.source == other.source
            and self.supported_kinds == other.supported_kinds
            and self._records == other._records
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def records(self) -> Mapping[str, GeneRecord]:
        """Every gene record keyed by canonical gene id (read-only view)."""
        return MappingProxyType(self._records)

    @staticmethod
    def identifier_kind(identifier: str) -> str:
        """Classify an identifier as "hgnc", "entrez", "ensembl" or "symbol", by its form alone.

        Anything that is not a well-formed structured id counts as a symbol.
        """
        return _parse_identifier(identifier.strip())[0]

    def get(self, gene_id: str) -> Gene:
        """Return the gene with this canonical id (`Gene.gene_id`).

        Raises KeyError if absent. Use `resolve` for identifiers from outside.
        """
        return self._records[gene_id].gene

    def resolve(self, identifier: str, *, chromosome: str | None = None) -> Gene:
        """Return the one gene an identifier names.

        `chromosome` is where the caller knows the gene to be, typically the chromosome of the
        patient's variant in it ("7", "chr7", "X", "M" or "MT"). It only settles an ambiguity:
        among the candidates, the single one on that chromosome is returned, unless another
        candidate's chromosome is unknown. An unambiguous identifier resolves to its gene even
        when that gene is on another chromosome.

        Raises UnknownGeneError, AmbiguousGeneError (with every candidate, also those the
        chromosome ruled out) or UnsupportedGeneIdentifierError; never guesses. Raises ValueError
        if `chromosome` is not one of 1-22, X, Y, MT. O(1): a handful of dict lookups.
        """
        wanted = None if chromosome is None else _normalised_chromosome(chromosome)
        text = identifier.strip()
        kind, key = _parse_identifier(text)
        if kind not in self.supported_kinds:
            self._raise_unsupported(text, kind)
        indexes = self._indexes
        if kind == "symbol":
            genes = indexes.by_symbol.get(key)
            step = "the current symbol of"
            if genes is None:
                folded = key.casefold()
                genes = indexes.by_symbol_folded.get(folded)
                if genes is None:
                    genes = indexes.by_previous.get(folded)
                    step = "a previous symbol of"
                    if genes is None:
                        genes = indexes.by_alias.get(folded)
                        step = "an alias of"
        else:
            if kind == "entrez":
                genes = indexes.by_entrez.get(key)
            elif kind == "ensembl":
                genes = indexes.by_ensembl.get(key)
            else:
                genes = indexes.by_hgnc.get(key)
            step = "mapped to"
        if genes is not None and len(genes) == 1:
            return genes[0]
        if not genes:
            self._raise_unknown(text)
        if wanted is not None:
            on_chromosome = [gene for gene in genes if gene.chromosome == wanted]
            if len(on_chromosome) == 1 and all(gene.chromosome for gene in genes):
                return on_chromosome[0]
        self._raise_ambiguous(text, step, genes, wanted)

    def _raise_unknown(self, text: str) -> NoReturn:
        message = f"no gene {_quoted(text)} in the gene catalogue (source: {self.source})"
        if _parse_identifier(text)[0] == "symbol" and not (
            {"previous_symbol", "alias"} & self.supported_kinds
        ):
            message += (
                "; this node's gene list knows only current approved symbols, not previous "
                "symbols or aliases"
            )
        raise UnknownGeneError(text, message)

    def _raise_ambiguous(
        self, text: str, step: str, genes: tuple[Gene, ...], chromosome: str | None
    ) -> NoReturn:
        candidates = tuple(sorted(genes, key=lambda gene: (gene.symbol, gene.gene_id)))
        listed = ", ".join(f"{gene.symbol or '?'} ({gene.gene_id})" for gene in candidates)
        message = (
            f"gene identifier {_quoted(text)} is ambiguous in the gene catalogue (source: {self.source}):"
            f" it is {step} {len(candidates)} genes: {listed}"
        )
        if chromosome is not None:
            outcome = _chromosome_outcome(candidates, chromosome)
            message += f"; chromosome {chromosome} did not settle it ({outcome})"
        message += "; send one of their ids instead"
        raise AmbiguousGeneError(text, message, candidates)

    def _raise_unsupported(self, text: str, kind: str) -> NoReturn:
        # Read by clinicians and peer operators: plain words, no function names. How to load a
        # fuller gene list is for the node's operator (docs/operations.md).
        message = (
            f"{_quoted(text)} is {_describe_kind(kind)}, which this node's gene list "
            f"(source: {self.source}) cannot look up; give the gene as "
            f"{self.accepted_identifiers()} instead"
        )
        raise UnsupportedGeneIdentifierError(text, message)

    def accepted_identifiers(self) -> str:
        """The identifier kinds this catalogue resolves, in words ("a gene symbol, an NCBI ...")."""
        kinds = [
            kind for kind in ("symbol", "hgnc", "entrez", "ensembl") if kind in self.supported_kinds
        ]
        if not kinds and {"previous_symbol", "alias"} & self.supported_kinds:
            kinds = ["symbol"]
        described = [_describe_kind(kind) for kind in kinds]
        if len(described) <= 1:
            return "".join(described)
        return f"{', '.join(described[:-1])} or {described[-1]}"

    def save(self, path: Path) -> None:
        """Write the catalogue to `path` as gzipped JSON, atomically.

        Writes a temporary file in the same directory and renames it over `path`, so readers
        never see a half-written catalogue. The output is deterministic (no gzip timestamp).
        """
        rows = [
            [
                record.gene.gene_id,
                record.gene.symbol,
                record.gene.name,
                record.gene.entrez_id,
                record.gene.hgnc_id,
                list(record.gene.ensembl_ids),
                record.gene.chromosome,
                list(record.gene.grch38_span) if record.gene.grch38_span else None,
                list(record.previous_symbols),
                list(record.alias_symbols),
                int(record.symbol_indexed),
            ]
            for record in self._records.values()
        ]
        document = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "source": self.source,
            "supported_kinds": sorted(self.supported_kinds),
            "columns": [
                "gene_id",
                "symbol",
                "name",
                "entrez_id",
                "hgnc_id",
                "ensembl_ids",
                "chromosome",
                "grch38_span",
                "previous_symbols",
                "alias_symbols",
                "symbol_indexed",
            ],
            "genes": rows,
        }
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        path = Path(path)
        descriptor, temporary_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with (
                os.fdopen(descriptor, "wb") as raw,
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as compressed,
            ):
                compressed.write(payload)
            os.replace(temporary_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary_name)
            raise

    @classmethod
    @_paused_gc
    def load(cls, path: Path) -> GeneCatalogue:
        """Read a catalogue written by `save`, in the current or an earlier format version.

        Files of format v1 (before genes had a chromosome) load with every chromosome "".
        Raises ValueError naming the file if it is not a gene catalogue of a known format version.
        """
        with gzip.open(path, "rb") as compressed:
            document = json.loads(compressed.read())
        if (
            not isinstance(document, dict)
            or document.get("format") != _FORMAT
            or document.get("version") not in _READABLE_VERSIONS
        ):
            raise ValueError(
                f"{path} is not a gene catalogue (format {_FORMAT} v1 to v{_FORMAT_VERSION})"
            )
        rows = document["genes"]
        if document["version"] == 1:
            rows = ([*row[:6], "", None, *row[6:]] for row in rows)
        elif document["version"] == 2:
            rows = ([*row[:7], None, *row[7:]] for row in rows)
        records = [
            GeneRecord(
                Gene(
                    gene_id,
                    symbol,
                    name,
                    entrez_id,
                    hgnc_id,
                    tuple(ensembl_ids),
                    chromosome,
                    (span[0], span[1]) if span else None,
                ),
                tuple(previous_symbols),
                tuple(alias_symbols),
                bool(symbol_indexed),
            )
            for (
                gene_id,
                symbol,
                name,
                entrez_id,
                hgnc_id,
                ensembl_ids,
                chromosome,
                span,
                previous_symbols,
                alias_symbols,
                symbol_indexed,
            ) in rows
        ]
        return cls(records, source=document["source"], supported_kinds=document["supported_kinds"])


def _chromosome_outcome(candidates: tuple[Gene, ...], chromosome: str) -> str:
    """Why `chromosome` did not single out one of `candidates`, for the ambiguity message."""
    on_chromosome = [
        gene.symbol or gene.gene_id for gene in candidates if gene.chromosome == chromosome
    ]
    unplaced = [gene.symbol or gene.gene_id for gene in candidates if not gene.chromosome]
    if not on_chromosome:
        outcome = f"none of them is known to be on chromosome {chromosome}"
    elif len(on_chromosome) == 1:
        outcome = f"only {on_chromosome[0]} is known to be on it"
    else:
        outcome = f"{len(on_chromosome)} of them are on it: {', '.join(on_chromosome)}"
    if unplaced:
        outcome += f"; not on exactly one known chromosome: {', '.join(unplaced)}"
    return outcome


def _canonical_gene_id(
    entrez_id: str | None, hgnc_id: str | None, ensembl_ids: tuple[str, ...]
) -> str:
    if entrez_id:
        return f"NCBIGene:{entrez_id}"
    if hgnc_id:
        return hgnc_id
    return ensembl_ids[0]


def _unique(symbols: Iterable[str], *, excluding: str = "") -> tuple[str, ...]:
    """Symbols in first-seen order without blanks, duplicates or `excluding`."""
    seen: dict[str, None] = {}
    for symbol in symbols:
        symbol = symbol.strip()
        if symbol and symbol != excluding:
            seen.setdefault(symbol, None)
    return tuple(seen)


def _hpo_release(genes_to_phenotype_path: Path) -> str:
    """The HPO release date of the files next to genes_to_phenotype.txt, or the file name."""
    directory = genes_to_phenotype_path.parent
    candidates = [
        (directory / "phenotype.hpoa", "#version:"),
        (directory / "hp.obo", "data-version:"),
    ]
    for candidate, marker in candidates:
        if not candidate.is_file():
            continue
        with candidate.open(encoding="utf-8") as lines:
            for _, line in zip(range(20), lines, strict=False):
                if line.startswith(marker):
                    return line.removeprefix(marker).strip().rsplit("/", 1)[-1]
    return genes_to_phenotype_path.name


@_paused_gc
def build_from_hpo_annotations(
    genes_to_phenotype_path: Path, *, source: str | None = None
) -> GeneCatalogue:
    """Build a symbol + Entrez catalogue from HPO's genes_to_phenotype.txt.

    Covers only the ~5k genes with phenotype annotations. `source` defaults to
    "HPO genes_to_phenotype <release>", the release read from phenotype.hpoa or hp.obo in the
    same folder. Genes listed with symbol "-" (regulatory regions such as ZRS) keep an empty
    symbol and resolve by Entrez id only.
    """
    path = Path(genes_to_phenotype_path)
    symbols: dict[str, str] = {}
    with path.open(encoding="utf-8") as lines:
        header = next(lines, "")
        if not header.startswith(_HPO_HEADER_START):
            raise ValueError(f"{path} does not start with the genes_to_phenotype.txt header")
        for line in lines:
            entrez_id, symbol, _ = line.split("\t", 2)
            symbols.setdefault(entrez_id, "" if symbol == "-" else symbol)
    records = [
        GeneRecord(Gene(gene_id=f"NCBIGene:{entrez_id}", symbol=symbol, entrez_id=entrez_id))
        for entrez_id, symbol in symbols.items()
    ]
    return GeneCatalogue(
        records,
        source=source or f"HPO genes_to_phenotype {_hpo_release(path)}",
        supported_kinds={"symbol", "entrez"},
    )


def _org_hs_eg_db_source(sqlite_path: Path, connection: sqlite3.Connection) -> str:
    metadata = dict(connection.execute("SELECT name, value FROM metadata").fetchall())
    name = "org.Hs.eg.db"
    # The sqlite does not carry the package version; the R package's DESCRIPTION does, when the
    # sqlite is read from an installed package rather than a copy.
    description = sqlite_path.parent.parent / "DESCRIPTION"
    if description.is_file():
        for line in description.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Version:"):
                name += " " + line.removeprefix("Version:").strip()
                break
    if gene_date := metadata.get("EGSOURCEDATE"):
        name += f" (Entrez Gene {gene_date})"
    return name


@_paused_gc
def build_from_org_hs_eg_db(sqlite_path: Path) -> GeneCatalogue:
    """Build a catalogue from Bioconductor's org.Hs.eg.db sqlite (NCBI Gene for human).

    Reads genes, gene_info, alias, ensembl, genetype, chromosomes and chromosome_locations (the
    GRCh38 span of each gene), opening the file read-only.
    Previous symbols and aliases are not separated by NCBI, so all of them count as aliases. A
    symbol that a real gene shares with phenotype-only records (gene type "unknown") resolves to
    the real gene. A gene listed on several chromosomes (X and Y), or only on "Un", gets
    chromosome "".
    """
    path = Path(sqlite_path)
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if not {"genes", "gene_info", "alias", "metadata"} <= tables:
            raise ValueError(f"{path} is an sqlite file but not an org.Hs.eg.db database")
        genes = connection.execute(
            "SELECT genes._id, genes.gene_id, gene_info.symbol, gene_info.gene_name"
            " FROM genes JOIN gene_info ON gene_info._id = genes._id"
        ).fetchall()
        aliases: defaultdict[int, list[str]] = defaultdict(list)
        for internal_id, alias in connection.execute("SELECT _id, alias_symbol FROM alias"):
            aliases[internal_id].append(alias)
        ensembl: defaultdict[int, list[str]] = defaultdict(list)
        if "ensembl" in tables:
            for internal_id, ensembl_id in connection.execute(
                "SELECT _id, ensembl_id FROM ensembl"
            ):
                ensembl[internal_id].append(ensembl_id.upper())
        chromosomes: defaultdict[int, set[str]] = defaultdict(set)
        if "chromosomes" in tables:
            for internal_id, chromosome in connection.execute(
                "SELECT _id, chromosome FROM chromosomes"
            ):
                if chromosome in CHROMOSOMES:
                    chromosomes[internal_id].add(chromosome)
        # UCSC's GRCh38 transcript coordinates (negative on the minus strand), several rows per
        # gene: one span from the first to the last base, on each chromosome.
        spans: dict[tuple[int, str], tuple[int, int]] = {}
        if "chromosome_locations" in tables:
            for internal_id, seqname, start, end in connection.execute(
                "SELECT _id, seqname, start_location, end_location FROM chromosome_locations"
            ):
                if seqname not in CHROMOSOMES or start is None or end is None:
                    continue
                # start is UCSC's 0-based txStart, end 1-based: the span is 1-based, inclusive.
                low, high = sorted((abs(start), abs(end)))
                low += 1
                key = (internal_id, seqname)
                known = spans.get(key)
                spans[key] = (
                    (low, high) if known is None else (min(known[0], low), max(known[1], high))
                )
        gene_types: dict[int, str] = {}
        if "genetype" in tables:
            gene_types = dict(connection.execute("SELECT _id, gene_type FROM genetype").fetchall())
        source = _org_hs_eg_db_source(path, connection)
    finally:
        connection.close()

    by_symbol: defaultdict[str, list[int]] = defaultdict(list)
    for internal_id, _, symbol, _ in genes:
        by_symbol[symbol].append(internal_id)
    shadowed: set[int] = set()
    for internal_ids in by_symbol.values():
        if len(internal_ids) > 1:
            placeholders = [i for i in internal_ids if gene_types.get(i) == "unknown"]
            if len(placeholders) < len(internal_ids):
                shadowed.update(placeholders)

    records = []
    for internal_id, entrez_id, symbol, name in genes:
        chromosome = _only(chromosomes.get(internal_id, ()))
        gene = Gene(
            gene_id=f"NCBIGene:{entrez_id}",
            symbol=symbol,
            name=name,
            entrez_id=entrez_id,
            ensembl_ids=tuple(sorted(set(ensembl[internal_id]))),
            chromosome=chromosome,
            grch38_span=spans.get((internal_id, chromosome)) if chromosome else None,
        )
        records.append(
            GeneRecord(
                gene,
                alias_symbols=_unique(aliases[internal_id], excluding=symbol),
                symbol_indexed=internal_id not in shadowed,
            )
        )
    return GeneCatalogue(
        records, source=source, supported_kinds={"symbol", "alias", "entrez", "ensembl"}
    )


def _only(values: Iterable[str]) -> str:
    """The one value in `values`, or "" if there are none or several."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else ""


def _hgnc_values(field_value: str) -> list[str]:
    """Split an HGNC multi-valued field ("A|B", possibly wrapped in double quotes)."""
    if len(field_value) >= 2 and field_value[0] == field_value[-1] == '"':
        field_value = field_value[1:-1]
    return [value.strip() for value in field_value.split("|") if value.strip()]


@_paused_gc
def build_from_hgnc_complete_set(tsv_path: Path) -> GeneCatalogue:
    """Build a catalogue from HGNC's hgnc_complete_set.txt (tab-separated, with header).

    The fullest source: current, previous and alias symbols, HGNC, Entrez and Ensembl ids, and
    the chromosome read from the location column (optional). Only rows with status "Approved"
    are read; the source label carries the newest date_modified.
    """
    path = Path(tsv_path)
    records = []
    newest_change = ""
    with path.open(encoding="utf-8", newline="") as lines:
        header = next(lines, "").rstrip("\r\n").split("\t")
        required = {"hgnc_id", "symbol", "name", "status", "prev_symbol", "alias_symbol"}
        required |= {"entrez_id", "ensembl_gene_id"}
        if missing := required - set(header):
            raise ValueError(f"{path} is not an HGNC complete set: no column {sorted(missing)}")
        column = {name: position for position, name in enumerate(header)}
        for line in lines:
            values = line.rstrip("\r\n").split("\t")
            if len(values) < len(header):
                values += [""] * (len(header) - len(values))
            if values[column["status"]].strip('"') != "Approved":
                continue
            symbol = values[column["symbol"]]
            hgnc_id = values[column["hgnc_id"]].upper() or None
            entrez_id = values[column["entrez_id"]] or None
            ensembl_ids = tuple(
                value.upper() for value in _hgnc_values(values[column["ensembl_gene_id"]])
            )
            if "date_modified" in column:
                newest_change = max(newest_change, values[column["date_modified"]])
            location = values[column["location"]] if "location" in column else ""
            gene = Gene(
                gene_id=_canonical_gene_id(entrez_id, hgnc_id, ensembl_ids),
                symbol=symbol,
                name=values[column["name"]].strip('"'),
                entrez_id=entrez_id,
                hgnc_id=hgnc_id,
                ensembl_ids=ensembl_ids,
                chromosome=_chromosome_from_hgnc_location(location),
            )
            records.append(
                GeneRecord(
                    gene,
                    previous_symbols=_unique(
                        _hgnc_values(values[column["prev_symbol"]]), excluding=symbol
                    ),
                    alias_symbols=_unique(
                        _hgnc_values(values[column["alias_symbol"]]), excluding=symbol
                    ),
                )
            )
    source = "HGNC complete set" + (f" {newest_change}" if newest_change else f" ({path.name})")
    return GeneCatalogue(records, source=source, supported_kinds=ALL_KINDS)


def build_catalogue(path: Path) -> GeneCatalogue:
    """Build a catalogue from whichever supported file `path` is, judged by its content.

    An sqlite file is read as org.Hs.eg.db, a TSV with the HGNC header as the HGNC complete set,
    one with the genes_to_phenotype header as the HPO gene list, and a gzip file as a catalogue
    written by `GeneCatalogue.save`. Anything else raises ValueError naming the file.
    """
    path = Path(path)
    with path.open("rb") as stream:
        start = stream.read(4096)
    if start.startswith(_SQLITE_MAGIC):
        return build_from_org_hs_eg_db(path)
    if start.startswith(_GZIP_MAGIC):
        return GeneCatalogue.load(path)
    first_line = start.decode("utf-8", errors="replace").lstrip("\ufeff")
    if first_line.startswith(_HGNC_HEADER_START):
        return build_from_hgnc_complete_set(path)
    if first_line.startswith(_HPO_HEADER_START):
        return build_from_hpo_annotations(path)
    raise ValueError(
        f"{path} is not a gene source this module can read: expected the org.Hs.eg.db sqlite, "
        "hgnc_complete_set.txt, HPO genes_to_phenotype.txt or a saved gene catalogue"
    )


def _accepts(index: Mapping[str, tuple[Gene, ...]], key: str, gene_id: str) -> bool:
    """True unless a higher-priority source already gives `key` to other genes only."""
    claimed = index.get(key)
    return claimed is None or any(gene.gene_id == gene_id for gene in claimed)


def _merge_record(
    existing: GeneRecord | None, incoming: GeneRecord, claims: _Indexes
) -> GeneRecord:
    gene_id = incoming.gene.gene_id
    ensembl_ids = tuple(
        e for e in incoming.gene.ensembl_ids if _accepts(claims.by_ensembl, e, gene_id)
    )
    hgnc_id = incoming.gene.hgnc_id
    if hgnc_id and not _accepts(claims.by_hgnc, hgnc_id, gene_id):
        hgnc_id = None
    previous = [
        s for s in incoming.previous_symbols if _accepts(claims.by_previous, s.casefold(), gene_id)
    ]
    aliases = [
        s for s in incoming.alias_symbols if _accepts(claims.by_alias, s.casefold(), gene_id)
    ]
    symbol = incoming.gene.symbol
    symbol_indexed = incoming.symbol_indexed and _accepts(claims.by_symbol, symbol, gene_id)
    if existing is None:
        return GeneRecord(
            replace(incoming.gene, hgnc_id=hgnc_id, ensembl_ids=ensembl_ids),
            previous_symbols=tuple(previous),
            alias_symbols=tuple(aliases),
            symbol_indexed=symbol_indexed,
        )
    kept = existing.gene
    # The other source still uses a symbol the primary has replaced: it is a previous symbol.
    if (
        kept.symbol
        and symbol
        and symbol != kept.symbol
        and _accepts(claims.by_previous, symbol.casefold(), gene_id)
    ):
        previous.append(symbol)
    gene = replace(
        kept,
        symbol=kept.symbol or symbol,
        name=kept.name or incoming.gene.name,
        entrez_id=kept.entrez_id or incoming.gene.entrez_id,
        hgnc_id=kept.hgnc_id or hgnc_id,
        ensembl_ids=_unique((*kept.ensembl_ids, *ensembl_ids)),
        chromosome=kept.chromosome or incoming.gene.chromosome,
        grch38_span=kept.grch38_span
        or (
            incoming.gene.grch38_span if kept.chromosome in ("", incoming.gene.chromosome) else None
        ),
    )
    return GeneRecord(
        gene,
        previous_symbols=_unique((*existing.previous_symbols, *previous), excluding=gene.symbol),
        alias_symbols=_unique((*existing.alias_symbols, *aliases), excluding=gene.symbol),
        symbol_indexed=existing.symbol_indexed if kept.symbol else symbol_indexed,
    )


@_paused_gc
def merge_catalogues(primary: GeneCatalogue, *others: GeneCatalogue) -> GeneCatalogue:
    """Combine catalogues into one; genes are matched by canonical id and `primary` wins.

    For a gene in several sources, the primary's values stand and the others only fill what it
    lacks (name, ids, chromosome) and add further Ensembl ids, previous and alias symbols. An
    identifier the primary (or an earlier catalogue in `others`) gives to other genes is not taken
    over from a later one, so merging never makes a primary's unambiguous answer ambiguous.
    """
    records = dict(primary.records)
    sources = [primary.source]
    kinds = set(primary.supported_kinds)
    for other in others:
        claims = _build_indexes(records.values())
        for gene_id, incoming in other.records.items():
            records[gene_id] = _merge_record(records.get(gene_id), incoming, claims)
        sources.append(other.source)
        kinds |= other.supported_kinds
    return GeneCatalogue(records.values(), source=" + ".join(sources), supported_kinds=kinds)
