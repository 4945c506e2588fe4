"""Issue 16 experiment: a "gene pool" bridge from the node's own stored cases (not the node's
method; measured offline, in the (c) setting of bench/quality.py, known and novel).

    PYTHONPATH=. .venv/bin/python bench/novel_signal_experiment.py cache          # 1.5 min, 1 core
    PYTHONPATH=. .venv/bin/python bench/novel_signal_experiment.py evaluate       # 3.5 min
    PYTHONPATH=. .venv/bin/python bench/novel_signal_experiment.py evaluate-nb    # 1 min
    PYTHONPATH=. .venv/bin/python bench/novel_signal_experiment.py ppmi           # 1.5 min
    PYTHONPATH=. .venv/bin/python bench/novel_signal_experiment.py evaluate-ppmi  # 3 min
    PYTHONPATH=. .venv/bin/python bench/novel_signal_experiment.py explained      # 2 min

Each evaluate step prints (c) hit@1 known / novel on folds 0-1 ("A", where constants are
chosen), 2-4 ("B", held out) and all, and the mixes ranked by A's novel figure.

MME nodes hold each stored patient's candidate genes; the (c) query has none. For a disease
nobody has annotated, the stored cases of *other papers* that carry one gene pool a phenotype
much richer than any single case. Everything here is diagnosis-free: a pool is the stored cases
carrying a gene symbol, minus the query and every case that shares a PMID with it (same-paper
leakage), recomputed per query by subtracting that paper's cases. Signals, per query:

- ``pool score``: a candidate's pool value = aggregate (mean, top-k mean, log-sum-exp) of the
  base phenotype scores (bma_jaccard) of the cases in its gene's pool, mixed with its own score.
- ``pool bridge``: the query against each pool as if it were an annotated disease: Resnik BMA in
  the query->pool direction (DiseaseProfiler's similarity), an ancestor term counting as the
  pool's by the share of the pool's cases whose closure holds it (to the power beta; beta 0 =
  union of the pool's terms); softmax exp((s - s_max) / T) over the pools, and a candidate gets
  the weight of its best gene.

``cache`` stores per (c) query, in var-experiment/ (not committed; no patient data in the repo):
bma_jaccard and the disease bridge alone, each with the known and the query's novel-fold IC and
profiler, and the query's spread (for the gated bridge), as float32 arrays. ``evaluate`` mixes.
Rules kept: no stored diagnosis is read to rank (diseases only to score the ranking and to
define the novel folds); no excluded term is scored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import FOLDS, _Case, build_knowledge, fold_of, load_cases

from ontologies.hpo import HpoSources, Ontology, load_ontology
from ontologies.similarity import BMA_JACCARD, PhenotypeScorer

OUT = Path(__file__).resolve().parent.parent / "var-experiment"


def setup() -> tuple[Ontology, list[_Case], list[int], dict[str, list[int]]]:
    ontology = load_ontology(HpoSources.bundled(), cache_dir=OUT / "hpo-cache")
    cases, _ = load_cases(ontology)
    by_pmid: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        for pmid in case.pmids:
            by_pmid.setdefault(pmid, []).append(index)
    by_disease: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        by_disease.setdefault(case.disease, []).append(index)
    queries = []
    for q, case in enumerate(cases):
        if any(not (cases[c].pmids & case.pmids) for c in by_disease[case.disease] if c != q):
            queries.append(q)
    return ontology, cases, queries, by_pmid


def same_paper(cases: list[_Case], by_pmid: dict[str, list[int]], q: int) -> list[int]:
    """The query and every case sharing a PMID with it (never candidates, never in a pool)."""
    out = {q}
    for pmid in cases[q].pmids:
        out.update(by_pmid[pmid])
    return sorted(out)


def setting_groups(
    setting: str, folds: NDArray[np.intp]
) -> list[tuple[int | None, NDArray[np.intp]]]:
    """The query rows scored with one body of knowledge: all of them for "known" (fold None),
    else each novel fold's."""
    if setting == "known":
        return [(None, np.arange(len(folds)))]
    return [(f, np.flatnonzero(folds == f)) for f in range(FOLDS)]


def knowledge_without_fold(ontology: Ontology, cases: list[_Case], fold: int | None) -> Any:
    """``build_knowledge`` from the annotations less the fold's dev diseases (none for None)."""
    left_out = frozenset(
        d for d in {c.disease for c in cases} if fold is not None and fold_of(d) == fold
    )
    return build_knowledge(ontology, cases, left_out)


def cache() -> None:
    OUT.mkdir(exist_ok=True)
    started = time.perf_counter()
    ontology, cases, queries, _ = setup()
    n, nq = len(cases), len(queries)
    folds = np.array([fold_of(cases[q].disease) for q in queries])
    print(f"{n} cases, {nq} (c) queries ({time.perf_counter() - started:.0f} s)", flush=True)
    np.savez(OUT / "meta.npz", queries=np.array(queries), folds=folds)
    for setting in ("known", "novel"):
        bj = np.lib.format.open_memmap(OUT / f"bj_{setting}.npy", "w+", np.float32, (nq, n))
        br = np.lib.format.open_memmap(OUT / f"br_{setting}.npy", "w+", np.float32, (nq, n))
        spread = np.zeros(nq)
        for fold, rows in setting_groups(setting, folds):
            knowledge = knowledge_without_fold(ontology, cases, fold)
            scorer = PhenotypeScorer(
                ontology, method=BMA_JACCARD, information_content=knowledge.ic["all"]
            )
            profiles = knowledge.profiles
            drows = profiles.disease_rows.astype(np.intp)
            dweights = profiles.disease_weights.astype(np.float32)
            for row in rows:
                observed = cases[queries[row]].observed
                bj[row] = scorer.score(scorer.prepare(observed), profiles)
                vector, spread[row] = knowledge.profiler.query_vector_and_spread(observed)
                br[row] = np.minimum(np.einsum("ij,ij->i", vector[drows], dweights), 1.0)
            print(
                f"{setting} fold {fold}: {len(rows)} queries ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        bj.flush()
        br.flush()
        del bj, br
        np.save(OUT / f"spread_{setting}.npy", spread)
    print(f"cached in {time.perf_counter() - started:.0f} s")


# ---------------------------------------------------------------------------------------------
# evaluate


def gene_pools(cases: list[_Case]) -> tuple[NDArray[np.intp], NDArray[np.intp], int, list[str]]:
    """(case, pool) pairs: one pool per gene symbol; a case with no gene is its own pool."""
    symbols = sorted({g for c in cases for g in c.genes})
    index = {g: i for i, g in enumerate(symbols)}
    pair_case, pair_pool, pools = [], [], len(symbols)
    for i, case in enumerate(cases):
        if case.genes:
            for gene in sorted(case.genes):
                pair_case.append(i)
                pair_pool.append(index[gene])
        else:
            pair_case.append(i)
            pair_pool.append(pools)
            pools += 1
    return np.array(pair_case), np.array(pair_pool), pools, symbols


def ceiling(cases: list[_Case], queries: list[int], by_pmid: dict[str, list[int]]) -> dict:
    """How many (c) queries have another-paper case carrying one of their (hidden) genes."""
    by_gene: dict[str, list[int]] = {}
    for i, case in enumerate(cases):
        for gene in case.genes:
            by_gene.setdefault(gene, []).append(i)
    one = two = same_disease = 0
    for q in queries:
        barred = set(same_paper(cases, by_pmid, q))
        sharing = {c for g in cases[q].genes for c in by_gene[g]} - barred
        one += len(sharing) >= 1
        two += len(sharing) >= 2
        same_disease += any(cases[c].disease == cases[q].disease for c in sharing)
    n = len(queries)
    return {
        "queries": n,
        "share_with_1+_other_paper_case_of_their_gene": round(one / n, 4),
        "share_with_2+": round(two / n, 4),
        "share_where_one_of_them_has_the_disease": round(same_disease / n, 4),
    }


def pool_similarities(
    ontology,
    cases: list[_Case],
    queries: list[int],
    by_pmid,
    pair_case,
    pair_pool,
    pools,
    ic: NDArray[np.float64],
    rows: NDArray[np.intp],
    betas: tuple[float, ...],
    bonus: float = 1.0,
) -> dict[float, NDArray[np.float32]]:
    """Per query (``rows`` of ``queries``) and beta: the query->pool Resnik BMA over every pool,
    its own paper's cases left out of every pool (-1 for a pool left empty)."""
    from ontologies import csr
    from ontologies.similarity import case_closures

    n_terms = len(ontology.term_ids)
    indptr, terms = csr.from_lists([c.observed for c in cases], np.int64, np.int64)
    cl_indptr, cl_terms = case_closures(ontology, indptr, terms)
    closure = np.zeros((pools, n_terms), np.int16)  # cases of the pool whose closure holds a term
    exact = np.zeros((pools, n_terms), np.int16)  # cases of the pool that observe the term
    size = np.bincount(pair_pool, minlength=pools).astype(np.float64)
    pools_of: dict[int, list[int]] = {}
    for c, p in zip(pair_case.tolist(), pair_pool.tolist(), strict=True):
        pools_of.setdefault(c, []).append(p)
        np.add.at(closure[p], cl_terms[cl_indptr[c] : cl_indptr[c + 1]], 1)
        np.add.at(exact[p], terms[indptr[c] : indptr[c + 1]], 1)
    out = {beta: np.full((len(rows), pools), -1.0, np.float32) for beta in betas}
    anc_indptr, anc_indices = ontology.ancestor_indptr, ontology.ancestor_indices
    for k, row in enumerate(rows):
        q = queries[row]
        query_terms = list(dict.fromkeys(cases[q].observed))
        if not query_terms:
            continue
        ancestors = [csr.row(anc_indptr, anc_indices, t) for t in query_terms]
        columns = np.unique(np.concatenate([*ancestors, np.array(query_terms)]))
        position = {int(t): j for j, t in enumerate(columns)}
        counts = closure[:, columns].astype(np.float64)
        exact_counts = exact[:, query_terms].astype(np.float64)
        n = size.copy()
        for e in same_paper(cases, by_pmid, q):
            held = cl_terms[cl_indptr[e] : cl_indptr[e + 1]]
            held = held[np.isin(held, columns)]
            cols = [position[int(t)] for t in held]
            seen = set(terms[indptr[e] : indptr[e + 1]].tolist())
            xcols = [j for j, t in enumerate(query_terms) if t in seen]
            for p in pools_of.get(e, []):
                counts[p, cols] -= 1
                exact_counts[p, xcols] -= 1
                n[p] -= 1
        alive = n > 0
        share = counts / np.maximum(n, 1)[:, None]
        exact_share = exact_counts / np.maximum(n, 1)[:, None]
        self_sim = sum(ic[t] + bonus for t in query_terms)
        for beta in betas:
            weight = (share > 0).astype(np.float64) if beta == 0 else share**beta
            xweight = (exact_share > 0).astype(np.float64) if beta == 0 else exact_share**beta
            total = np.zeros(pools)
            for j, (t, anc) in enumerate(zip(query_terms, ancestors, strict=True)):
                cols = [position[int(a)] for a in anc]
                value = (weight[:, cols] * ic[anc]).max(axis=1)
                value = np.maximum(value, xweight[:, j] * (ic[t] + bonus))
                total += value
            sim = total / self_sim if self_sim > 0 else total
            out[beta][k] = np.where(alive, sim, -1.0)
    return out


def _gate(spread: NDArray[np.float64], low: float = 5.0, high: float = 50.0) -> NDArray:
    return np.clip(np.log(high / np.maximum(spread, 1e-9)) / np.log(high / low), 0.0, 1.0)


def cached_queries(
    cases: list[_Case], queries: list[int], by_pmid: dict[str, list[int]], setting: str
) -> Iterator[tuple[int, NDArray[np.intp], NDArray[np.intp], dict[str, NDArray[np.float64]]]]:
    """Per (c) query of ``cache``: its row, the eligible candidates of its disease and of others
    (the query's paper never a candidate), and the three cached bases over every case:
    bma_jaccard, the fixed half bridge ("default") and the gated bridge."""
    diseases = np.array([c.disease for c in cases])  # scores the ranking only
    bj_all = np.load(OUT / f"bj_{setting}.npy", mmap_mode="r")
    br_all = np.load(OUT / f"br_{setting}.npy", mmap_mode="r")
    spread = np.load(OUT / f"spread_{setting}.npy")
    for row, q in enumerate(queries):
        valid = np.ones(len(cases), np.bool_)
        valid[same_paper(cases, by_pmid, q)] = False
        true = valid & (diseases == cases[q].disease)
        bj = bj_all[row].astype(np.float64)
        br = br_all[row].astype(np.float64)
        gate = 0.6 * _gate(spread[row : row + 1])[0]
        bases = {"bj": bj, "default": 0.5 * bj + 0.5 * br, "gated": (1 - gate) * bj + gate * br}
        yield row, np.flatnonzero(true), np.flatnonzero(valid & ~true), bases


def rank_of_best_true(
    scores: NDArray[np.float64], true_idx: NDArray[np.intp], false_idx: NDArray[np.intp]
) -> int:
    """Rank of the best same-disease candidate, ties counted against it (bench/quality.py's rule)."""
    return 1 + int((scores[false_idx] >= scores[true_idx].max()).sum())


def evaluate() -> None:
    from ontologies.hpo import compute_information_content

    started = time.perf_counter()
    ontology, cases, queries, by_pmid = setup()
    meta = np.load(OUT / "meta.npz")
    assert meta["queries"].tolist() == queries
    folds = meta["folds"]
    nq, n = len(queries), len(cases)
    diseases = np.array([c.disease for c in cases])  # scores the ranking only
    pair_case, pair_pool, pools, _ = gene_pools(cases)
    print(json.dumps(ceiling(cases, queries, by_pmid)), flush=True)
    betas = (0.0, 0.5, 1.0)
    sims_path = OUT / "pool_sims.npz"
    if sims_path.exists():
        stored = np.load(sims_path)
        sims = {(s, b): stored[f"{s}_{b}"] for s in ("known", "novel") for b in betas}
    else:
        sims = {}
        for setting in ("known", "novel"):
            for b in betas:
                sims[(setting, b)] = np.full((nq, pools), -1.0, np.float32)
            for fold, rows in setting_groups(setting, folds):
                if fold is None:
                    ic = ontology.information_content
                else:
                    kept = np.array([fold_of(d) != fold for d in ontology.disease_ids])
                    ic = compute_information_content(ontology, disease_mask=kept)
                part = pool_similarities(
                    ontology, cases, queries, by_pmid, pair_case, pair_pool, pools, ic, rows, betas
                )
                for b in betas:
                    sims[(setting, b)][rows] = part[b]
                print(
                    f"pool similarities {setting} {fold} ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
        np.savez(sims_path, **{f"{s}_{b}": v for (s, b), v in sims.items()})
    arrays = {
        (kind, s): np.load(OUT / f"{kind}_{s}.npy", mmap_mode="r")
        for kind in ("bj", "br")
        for s in ("known", "novel")
    }
    spread = {s: np.load(OUT / f"spread_{s}.npy") for s in ("known", "novel")}
    weights = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    names: list[str] = []
    ranks = {s: [] for s in ("known", "novel")}
    for setting in ("known", "novel"):
        for row, q in enumerate(queries):
            barred = same_paper(cases, by_pmid, q)
            valid = np.ones(n, np.bool_)
            valid[barred] = False
            true = valid & (diseases == cases[q].disease)
            false_idx = np.flatnonzero(valid & ~true)
            true_idx = np.flatnonzero(true)
            bj = arrays[("bj", setting)][row].astype(np.float64)
            br = arrays[("br", setting)][row].astype(np.float64)
            gate = 0.6 * _gate(spread[setting][row : row + 1])[0]
            bases = {
                "bj": bj,
                "default": 0.5 * bj + 0.5 * br,
                "gated": (1 - gate) * bj + gate * br,
            }
            # pool scores (G1) from bma_jaccard over the query's eligible cases
            on = valid[pair_case].astype(np.float64)
            count = np.bincount(pair_pool, on, pools)
            signals: dict[str, NDArray[np.float64]] = {}

            def per_case(pool_value: NDArray[np.float64]) -> NDArray[np.float64]:
                out = np.full(n, -np.inf)
                np.maximum.at(out, pair_case, pool_value[pair_pool])
                return out

            total = np.bincount(pair_pool, bj[pair_case] * on, pools)
            signals["mean"] = per_case(total / np.maximum(count, 1))
            for t in (0.03, 0.1):
                e = np.bincount(pair_pool, np.exp((bj[pair_case] - 1) / t) * on, pools)
                signals[f"lsemean{t}"] = per_case(
                    1 + t * np.log(np.maximum(e, 1e-300) / np.maximum(count, 1))
                )
                signals[f"lsesum{t}"] = per_case(1 + t * np.log(np.maximum(e, 1e-300)))
            # pool bridge (G2)
            for b in betas:
                sim = sims[(setting, b)][row].astype(np.float64)
                top = sim.max()
                for t in (0.02, 0.05, 0.1):
                    value = np.where(sim >= 0, np.exp((sim - top) / t), 0.0)
                    signals[f"bridge_b{b}_t{t}"] = per_case(value)
            configs = [(f"{k}", v) for k, v in bases.items()]
            for base_name, base in bases.items():
                for sig_name, sig in signals.items():
                    for w in weights:
                        configs.append((f"{base_name}+{w}*{sig_name}", (1 - w) * base + w * sig))
            if not names:
                names = [name for name, _ in configs]
            ranks[setting].append([rank_of_best_true(x, true_idx, false_idx) for _, x in configs])
            if row % 1000 == 0:
                print(f"{setting} {row} ({time.perf_counter() - started:.0f} s)", flush=True)
    known = np.array(ranks["known"], np.int32).T
    novel = np.array(ranks["novel"], np.int32).T
    np.savez(OUT / "ranks.npz", names=np.array(names), known=known, novel=novel, folds=folds)
    report(names, known, novel, folds)


def report(names, known, novel, folds, top: int = 40) -> None:
    a = np.isin(folds, (0, 1))
    b = ~a

    def h(r, m):
        return float((r[m] == 1).mean())

    rows = []
    for i, name in enumerate(names):
        rows.append(
            (
                name,
                h(known[i], a),
                h(novel[i], a),
                h(known[i], b),
                h(novel[i], b),
                h(known[i], a | b),
                h(novel[i], a | b),
            )
        )
    print("name | A known / novel | B known / novel | all known / novel")
    for row in rows[:3]:
        print(row[0], " | ".join(f"{row[j]:.3f} / {row[j + 1]:.3f}" for j in (1, 3, 5)))
    # chosen on A: best novel with known >= default's known on A
    default_known_a = rows[1][1]
    eligible = [r for r in rows if r[1] >= default_known_a - 1e-9]
    print(f"\nbest on A by novel, A-known >= default's ({default_known_a:.3f}):")
    for row in sorted(eligible, key=lambda r: -r[2])[:top]:
        print(row[0], " | ".join(f"{row[j]:.3f} / {row[j + 1]:.3f}" for j in (1, 3, 5)))
    print("\nbest on A by novel, any known:")
    for row in sorted(rows, key=lambda r: -r[2])[:top]:
        print(row[0], " | ".join(f"{row[j]:.3f} / {row[j + 1]:.3f}" for j in (1, 3, 5)))


# ---------------------------------------------------------------------------------------------
# the one alternative: PPMI-SVD term embeddings learned from the stored cases

PAPER_GROUPS = 5


def paper_group(case: _Case) -> int:
    """Embedding fold of a case's paper (every dev case cites exactly one PMID)."""
    key = min(case.pmids) if case.pmids else ""
    return int(hashlib.md5(key.encode(), usedforsecurity=False).hexdigest(), 16) % PAPER_GROUPS


def ppmi_embedding(
    closures: list[NDArray[np.int64]],
    weights: NDArray[np.float64],
    vocab: int,
    dims: int,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Term vectors U sqrt(lambda) from the top eigenpairs of the PPMI matrix of co-occurrence
    within a case's ancestor-closed terms, each paper's cases weighing 1 in total."""
    joint = np.zeros((vocab, vocab))
    for terms, w in zip(closures, weights, strict=True):
        if w > 0 and len(terms):
            joint[np.ix_(terms, terms)] += w
    total = weights.sum()
    marginal = np.diag(joint).copy() / total
    joint /= total
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(joint / np.outer(marginal, marginal))
    pmi[~np.isfinite(pmi)] = 0.0
    np.maximum(pmi, 0.0, out=pmi)
    del joint
    # randomised top eigenpairs (PPMI is symmetric)
    rng = np.random.default_rng(seed)
    basis = pmi @ rng.standard_normal((vocab, dims + 20))
    for _ in range(3):
        basis, _ = np.linalg.qr(basis)
        basis = pmi @ basis
    basis, _ = np.linalg.qr(basis)
    values, vectors = np.linalg.eigh(basis.T @ pmi @ basis)
    order = np.argsort(-values)[:dims]
    values = np.maximum(values[order], 0.0)
    return (basis @ vectors[:, order]) * np.sqrt(values)


def ppmi() -> None:
    """Cache per (c) query the cosine of IC-weighted mean term vectors, known and novel IC."""
    from ontologies import csr
    from ontologies.hpo import compute_information_content
    from ontologies.similarity import case_closures

    started = time.perf_counter()
    ontology, cases, queries, _ = setup()
    meta = np.load(OUT / "meta.npz")
    folds = meta["folds"]
    nq, n = len(queries), len(cases)
    indptr, terms = csr.from_lists([c.observed for c in cases], np.int64, np.int64)
    cl_indptr, cl_terms = case_closures(ontology, indptr, terms)
    used = np.unique(cl_terms)
    local = np.full(len(ontology.term_ids), -1)
    local[used] = np.arange(len(used))
    closures = [local[cl_terms[cl_indptr[c] : cl_indptr[c + 1]]] for c in range(n)]
    observed = [local[np.array(sorted(set(c.observed)), dtype=np.int64)] for c in cases]
    groups = np.array([paper_group(c) for c in cases])
    paper_size: dict[str, int] = {}
    for c in cases:
        for pmid in c.pmids:
            paper_size[pmid] = paper_size.get(pmid, 0) + 1
    base_weight = np.array([1.0 / paper_size[min(c.pmids)] for c in cases])
    query_group = groups[queries]
    ics = {None: ontology.information_content}
    for f in range(FOLDS):
        left = {d for d in {c.disease for c in cases} if fold_of(d) == f}
        kept = np.array([d not in left for d in ontology.disease_ids])
        ics[f] = compute_information_content(ontology, disease_mask=kept)
    dims_list = (64, 256)
    out = {
        (setting, d, kind): np.lib.format.open_memmap(
            OUT / f"cos_{setting}_{d}_{kind}.npy", "w+", np.float32, (nq, n)
        )
        for setting in ("known", "novel")
        for d in dims_list
        for kind in ("obs", "closure")
    }
    for g in range(PAPER_GROUPS):
        weights = np.where(groups == g, 0.0, base_weight)  # the query's paper group left out
        embedding = ppmi_embedding(closures, weights, len(used), max(dims_list))
        print(f"group {g}: embedding ({time.perf_counter() - started:.0f} s)", flush=True)
        for setting in ("known", "novel"):
            fold_keys = [None] if setting == "known" else list(range(FOLDS))
            for f in fold_keys:
                rows = np.flatnonzero((query_group == g) & (True if f is None else folds == f))
                if not len(rows):
                    continue
                ic = ics[f][used]
                for d in dims_list:
                    emb = embedding[:, :d]
                    for kind, sets in (("obs", observed), ("closure", closures)):
                        vectors = np.zeros((n, d))
                        for c, t in enumerate(sets):
                            w = ic[t]
                            if w.sum() > 0:
                                vectors[c] = w @ emb[t] / w.sum()
                        norms = np.linalg.norm(vectors, axis=1)
                        vectors /= np.maximum(norms, 1e-12)[:, None]
                        sel = np.array(queries)[rows]
                        out[(setting, d, kind)][rows] = vectors[sel] @ vectors.T
        print(f"group {g}: cosines ({time.perf_counter() - started:.0f} s)", flush=True)
    for array in out.values():
        array.flush()


def evaluate_ppmi() -> None:
    _, cases, queries, by_pmid = setup()
    meta = np.load(OUT / "meta.npz")
    folds = meta["folds"]
    keys = [(d, k) for d in (64, 256) for k in ("obs", "closure")]
    cos = {
        (s, d, k): np.load(OUT / f"cos_{s}_{d}_{k}.npy", mmap_mode="r")
        for s in ("known", "novel")
        for d, k in keys
    }
    weights = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
    names: list[str] = []
    ranks = {s: [] for s in ("known", "novel")}
    for setting in ("known", "novel"):
        for row, true_idx, false_idx, bases in cached_queries(cases, queries, by_pmid, setting):
            configs = list(bases.items())
            for d, k in keys:
                c = np.clip(cos[(setting, d, k)][row].astype(np.float64), 0.0, 1.0)
                configs.append((f"cos{d}{k}", c))
                for base_name, base in bases.items():
                    for w in weights:
                        configs.append((f"{base_name}+{w}*cos{d}{k}", (1 - w) * base + w * c))
            if not names:
                names = [name for name, _ in configs]
            ranks[setting].append([rank_of_best_true(x, true_idx, false_idx) for _, x in configs])
    known = np.array(ranks["known"], np.int32).T
    novel = np.array(ranks["novel"], np.int32).T
    np.savez(OUT / "ranks_ppmi.npz", names=np.array(names), known=known, novel=novel, folds=folds)
    report(names, known, novel, folds)


# ---------------------------------------------------------------------------------------------
# gene pools, frequency-aware: a smoothed likelihood ratio per pool (reads no annotation at all)


def pool_likelihoods(alpha: float = 32.0) -> NDArray[np.float32]:
    """Per (c) query and pool: sum over the query's terms of the best, over the term's
    ancestors a, of log((k + alpha pi_a) / (m + alpha)) - log pi_a, where k of the pool's m
    cases hold a in their closure and pi_a is the share of all cases that do; the query's paper
    is left out of every count (pool and background). -inf for a pool left empty. alpha = 32
    identified the right gene best among 0.5-100 (a diagnostic on every fifth query)."""
    from ontologies import csr
    from ontologies.similarity import case_closures

    path = OUT / f"pool_nb_{alpha}.npy"
    if path.exists():
        return np.load(path)
    ontology, cases, queries, by_pmid = setup()
    pair_case, pair_pool, pools, _ = gene_pools(cases)
    n_terms = len(ontology.term_ids)
    indptr, terms = csr.from_lists([c.observed for c in cases], np.int64, np.int64)
    cl_indptr, cl_terms = case_closures(ontology, indptr, terms)
    closure = np.zeros((pools, n_terms), np.int16)
    pools_of: dict[int, list[int]] = {}
    for c, p in zip(pair_case.tolist(), pair_pool.tolist(), strict=True):
        pools_of.setdefault(c, []).append(p)
        closure[p, cl_terms[cl_indptr[c] : cl_indptr[c + 1]]] += 1
    everyone = np.bincount(cl_terms, minlength=n_terms).astype(np.float64)
    size = np.bincount(pair_pool, minlength=pools).astype(np.float64)
    anc_indptr, anc_indices = ontology.ancestor_indptr, ontology.ancestor_indices
    out = np.full((len(queries), pools), -np.inf, np.float32)
    for row, q in enumerate(queries):
        query_terms = list(dict.fromkeys(cases[q].observed))
        if not query_terms:
            continue
        ancestors = [csr.row(anc_indptr, anc_indices, t) for t in query_terms]
        columns = np.unique(np.concatenate(ancestors))
        position = np.full(n_terms, -1)
        position[columns] = np.arange(len(columns))
        counts = closure[:, columns].astype(np.float64)
        background = everyone[columns].copy()
        m, everyone_n = size.copy(), float(len(cases))
        for e in same_paper(cases, by_pmid, q):
            held = position[cl_terms[cl_indptr[e] : cl_indptr[e + 1]]]
            held = held[held >= 0]
            background[held] -= 1
            everyone_n -= 1
            for p in pools_of.get(e, []):
                counts[p, held] -= 1
                m[p] -= 1
        pi = np.maximum(background, 0.5) / everyone_n
        llr = np.log((counts + alpha * pi) / (m[:, None] + alpha)) - np.log(pi)
        total = np.zeros(pools)
        for anc in ancestors:
            total += llr[:, position[anc]].max(axis=1)
        out[row] = np.where(m > 0, total, -np.inf)
    np.save(path, out)
    return out


def evaluate_nb() -> None:
    started = time.perf_counter()
    likelihood = pool_likelihoods()
    print(f"pool likelihoods ({time.perf_counter() - started:.0f} s)", flush=True)
    _, cases, queries, by_pmid = setup()
    folds = np.load(OUT / "meta.npz")["folds"]
    n = len(cases)
    pair_case, pair_pool, _, _ = gene_pools(cases)
    weights = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
    names: list[str] = []
    ranks = {s: [] for s in ("known", "novel")}
    for setting in ("known", "novel"):
        for row, true_idx, false_idx, bases in cached_queries(cases, queries, by_pmid, setting):
            configs = list(bases.items())
            llr = likelihood[row].astype(np.float64)
            top = llr[np.isfinite(llr)].max()
            for tau in (1.0, 3.0, 10.0, 30.0):
                pool_value = np.where(np.isfinite(llr), np.exp((llr - top) / tau), 0.0)
                signal = np.zeros(n)
                np.maximum.at(signal, pair_case, pool_value[pair_pool])
                configs.append((f"nb{tau}", signal))
                for base_name, base in bases.items():
                    for w in weights:
                        configs.append((f"{base_name}+{w}*nb{tau}", (1 - w) * base + w * signal))
            if not names:
                names = [name for name, _ in configs]
            ranks[setting].append([rank_of_best_true(x, true_idx, false_idx) for _, x in configs])
    known = np.array(ranks["known"], np.int32).T
    novel = np.array(ranks["novel"], np.int32).T
    np.savez(OUT / "ranks_nb.npz", names=np.array(names), known=known, novel=novel, folds=folds)
    report(names, known, novel, folds)


# ---------------------------------------------------------------------------------------------
# "explained away": a candidate that a known disease explains better than it explains the query


def disease_similarity_matrix(profiler: Any, cases: list[_Case]) -> NDArray[np.float32]:
    """Every case's similarity to every disease of ``profiler`` (cases x diseases)."""
    matrix = np.zeros((len(cases), len(profiler)), np.float32)
    rows: dict[int, NDArray[np.float32]] = {}
    for position, case in enumerate(cases):
        matrix[position] = profiler.similarities(case.observed, rows)
    return matrix


def evaluate_explained() -> None:
    """Base score minus lambda x a penalty read from the known diseases closest to each side
    (the disease bridge's similarities s(D), 0..1; never a recorded diagnosis). D_c is the
    candidate's closest disease, D_q the query's:

    - ``own``: max(0, s_c(D_c) - s_q(D_c)): a known disease explains the candidate better than
      it explains the query, so the candidate is more likely a case of that disease.
    - ``both``: ``own`` + max(0, s_q(D_q) - s_c(D_q)), the same from the query's side too.
    - ``excess``: max(0, s_c(D_c) - s_q(D_q)): the candidate fits its closest disease better than
      the query fits any.
    - ``soft``: ``own`` over the candidate's 10 profile diseases, weighted by its profile.
    - ``rel``: 1 - s_q(D_c) / s_c(D_c); ``ownxfit``: ``own`` x s_c(D_c); ``own+excess``.

    Also (seventh session) ``own`` on the gated default with a weight that grows as the gate
    shuts: lambda0 + lambda1 x (1 - gate); ``ownxconc``, ``own2`` and ``own-outside`` (see
    below).

    Bases: bma_jaccard ("bj"), the gated default ("gated", share 0.6) and the gate with shares
    0.7 / 0.8 (the fixed half bridge, "default", is listed for reference). Known: the
    similarities from all annotations; novel: per fold, without the fold's diseases (as for
    everything else in the novel setting). Needs ``cache``; ~2 min.
    """
    started = time.perf_counter()
    ontology, cases, queries, by_pmid = setup()
    meta = np.load(OUT / "meta.npz")
    assert meta["queries"].tolist() == queries
    folds = meta["folds"]
    nq = len(queries)
    lambdas = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
    names: list[str] = []
    ranks: dict[str, list[list[int]]] = {s: [[] for _ in range(nq)] for s in ("known", "novel")}
    for setting in ("known", "novel"):
        spreads = np.load(OUT / f"spread_{setting}.npy")
        for fold, rows in setting_groups(setting, folds):
            knowledge = knowledge_without_fold(ontology, cases, fold)
            matrix = disease_similarity_matrix(knowledge.profiler, cases)
            closest = matrix.argmax(axis=1)
            fit = matrix[np.arange(len(cases)), closest]
            profile_rows = knowledge.profiles.disease_rows.astype(np.intp)
            profile_shares = knowledge.profiles.disease_weights.astype(np.float64) ** 2
            profile_shares /= np.maximum(profile_shares.sum(axis=1, keepdims=True), 1e-12)
            profile_fits = np.take_along_axis(matrix, profile_rows, axis=1)
            print(f"{setting} {fold}: matrix ({time.perf_counter() - started:.0f} s)", flush=True)
            wanted = {int(r) for r in rows}
            for row, true_idx, false_idx, bases in cached_queries(cases, queries, by_pmid, setting):
                if row not in wanted:
                    continue
                q = queries[row]
                query_fit = matrix[q]
                query_top = knowledge.profiles.disease_rows[q]
                own = np.maximum(0.0, fit - query_fit[closest]).astype(np.float64)
                excess = np.maximum(0.0, fit - fit[q]).astype(np.float64)
                signals = {
                    "own": own,
                    "both": own + np.maximum(0.0, fit[q] - matrix[:, closest[q]]),
                    "excess": excess,
                    "soft": (
                        np.maximum(0.0, profile_fits - query_fit[profile_rows]) * profile_shares
                    ).sum(axis=1),
                    "rel": np.maximum(0.0, 1.0 - query_fit[closest] / np.maximum(fit, 1e-6)),
                    "ownxfit": own * fit,
                    "own+excess": own + excess,
                    # Seventh session: the candidate's concentration on its closest disease
                    # (its profile's share there), the squared gap, and the gap only when that
                    # disease is outside the query's own 10.
                    "ownxconc": own * profile_shares[:, 0],
                    "own2": own**2,
                    "own-outside": own * ~np.isin(closest, query_top),
                }
                bridge = 2.0 * bases["default"] - bases["bj"]
                for share in (0.7, 0.8):
                    gate = share * _gate(spreads[row : row + 1])[0]
                    bases[f"gated{share}"] = (1 - gate) * bases["bj"] + gate * bridge
                configs = list(bases.items())
                for base_name, base in bases.items():
                    if base_name == "default":  # the fixed half bridge: for reference only
                        continue
                    for penalty, signal in signals.items():
                        for lam in lambdas:
                            configs.append((f"{base_name}-{lam}*{penalty}", base - lam * signal))
                # Seventh session: more penalty for a query the gate shuts out (likely a
                # disease nobody annotated): lambda0 + lambda1 x (1 - gate), on the gated default.
                shut = 1.0 - _gate(spreads[row : row + 1])[0]
                for lam0 in (0.1, 0.2, 0.3):
                    for lam1 in (0.1, 0.2, 0.3, 0.5):
                        lam = lam0 + lam1 * shut
                        configs.append(
                            (f"gated-({lam0}+{lam1}*shut)*own", bases["gated"] - lam * own)
                        )
                if not names:
                    names = [name for name, _ in configs]
                ranks[setting][row] = [
                    rank_of_best_true(x, true_idx, false_idx) for _, x in configs
                ]
            del matrix
    known = np.array(ranks["known"], np.int32).T
    novel = np.array(ranks["novel"], np.int32).T
    np.savez(OUT / "ranks_explained.npz", names=np.array(names), known=known, novel=novel)
    print(f"evaluated in {time.perf_counter() - started:.0f} s")
    report(names, known, novel, folds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "step",
        choices=("cache", "evaluate", "ppmi", "evaluate-ppmi", "evaluate-nb", "explained"),
    )
    args = parser.parse_args()
    {
        "cache": cache,
        "evaluate": evaluate,
        "ppmi": ppmi,
        "evaluate-ppmi": evaluate_ppmi,
        "evaluate-nb": evaluate_nb,
        "explained": evaluate_explained,
    }[args.step]()
