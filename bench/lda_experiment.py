"""Issue 16 experiment: a case metric learned like speaker verification's LDA (unseen classes).

    PYTHONPATH=. .venv/bin/python bench/lda_experiment.py

Each case is the IC-weighted indicator of its observed terms' ancestor closure (IC from the
cases themselves: no annotation read), reduced by PCA (unsupervised, all cases). Per fold, an LDA
projection is fitted on the cases of the *other* folds' diseases (within- and between-disease
scatter); the fold's queries are then scored by cosine in that space. The novel folds are the
diseases' (fold_of), the known setting's folds are the papers' (the query's paper never trains).
Mixed with the cached bma_jaccard and gated bridge of novel_signal_experiment.py (run its
``cache`` step first). Argument: the PCA dimensions (default 400). ~3.5 min on 2 cores.

Result (issue 16, fifth session; docs/benchmarks.md): the learned metric alone scores (c) hit@1
at most 0.476 known / 0.457 novel (PCA 400; LDA 200 / 300 dims, shrinkage 0.1), below exact-term
Jaccard; mixed at 0.1 with the gated bridge it adds +0.003 known / +0.011 novel (0.628 / 0.545),
and with bma_jaccard +0.009 / +0.006; on folds 2-4, held out, the larger shares tuned on folds 0-1
lose. Not adopted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))

from novel_signal_experiment import (
    OUT,
    cached_queries,
    paper_group,
    rank_of_best_true,
    report,
    setup,
)
from quality import FOLDS, fold_of

from ontologies.similarity import CaseProfiles, case_closures


def main() -> None:
    started = time.perf_counter()
    ontology, cases, queries, by_pmid = setup()
    n, nq = len(cases), len(queries)
    profiles = CaseProfiles.from_lists([c.observed for c in cases])
    closure_indptr, closure_terms = case_closures(
        ontology, profiles.observed_indptr, profiles.observed_terms
    )
    closures = [closure_terms[closure_indptr[k] : closure_indptr[k + 1]] for k in range(len(cases))]
    used = np.unique(np.concatenate(closures))
    col = np.full(len(ontology.term_ids), -1, np.intp)
    col[used] = np.arange(len(used))
    df = np.zeros(len(used))
    for cl in closures:
        df[col[cl]] += 1
    ic = np.log(n / df)
    closure_matrix = np.zeros((n, len(used)), np.float32)
    for k, cl in enumerate(closures):
        closure_matrix[k, col[cl]] = ic[col[cl]]
    closure_matrix /= np.linalg.norm(closure_matrix, axis=1, keepdims=True) + 1e-9
    print(
        f"closure_matrix {closure_matrix.shape} ({time.perf_counter() - started:.0f} s)", flush=True
    )
    mean = closure_matrix.mean(0)
    centred = closure_matrix - mean
    # PCA by a randomised SVD (two power iterations)
    dims = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    rng = np.random.default_rng(0)
    omega = rng.standard_normal((centred.shape[1], dims + 50)).astype(np.float32)
    basis = centred @ omega
    for _ in range(2):
        basis = centred @ (centred.T @ basis)
        basis, _ = np.linalg.qr(basis)
    projected = basis.T @ centred
    _, _, vt = np.linalg.svd(projected, full_matrices=False)
    reduced = (centred @ vt[:dims].T).astype(np.float64)
    print(f"PCA {reduced.shape} ({time.perf_counter() - started:.0f} s)", flush=True)

    diseases = np.array([c.disease for c in cases])
    dfold = np.array([fold_of(d) for d in diseases])
    pgroup = np.array([paper_group(c) for c in cases])
    qarr = np.array(queries)

    def lda(train: NDArray[np.bool_], alpha: float, keep: int) -> NDArray[np.float64]:
        labels = diseases[train]
        train_vectors = reduced[train]
        uniq, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
        multi = counts[inv] >= 2
        train_vectors, inv = train_vectors[multi], inv[multi]
        means = np.zeros((len(uniq), reduced.shape[1]))
        np.add.at(means, inv, train_vectors)
        means /= np.maximum(np.bincount(inv, minlength=len(uniq)), 1)[:, None]
        within = train_vectors - means[inv]
        within_scatter = within.T @ within / len(train_vectors)
        mu = train_vectors.mean(0)
        between_scatter = (means[inv] - mu).T @ (means[inv] - mu) / len(train_vectors)
        within_scatter += (
            alpha * np.trace(within_scatter) / len(within_scatter) * np.eye(len(within_scatter))
        )
        # whiten within_scatter, then eigen of between_scatter
        w, eigenvectors = np.linalg.eigh(within_scatter)
        whitening = eigenvectors / np.sqrt(w)
        bw, between_vectors = np.linalg.eigh(whitening.T @ between_scatter @ whitening)
        order = np.argsort(bw)[::-1][:keep]
        return whitening @ between_vectors[:, order]

    configs = [(a, k) for a in (0.1, 0.3, 1.0) for k in (100, 200, 300)]
    settings = {}
    for setting in ("known", "novel"):
        cos = {cfg: np.zeros((nq, n), np.float32) for cfg in configs}
        groups = pgroup if setting == "known" else dfold
        qgroups = groups[qarr]
        for g in range(FOLDS):
            rows = np.flatnonzero(qgroups == g)
            train = groups != g
            for cfg in configs:
                projection = lda(train, *cfg)
                embedded = reduced @ projection
                embedded /= np.linalg.norm(embedded, axis=1, keepdims=True) + 1e-12
                cos[cfg][rows] = embedded[qarr[rows]] @ embedded.T
            print(f"{setting} group {g} ({time.perf_counter() - started:.0f} s)", flush=True)
        settings[setting] = cos

    folds = np.array([fold_of(cases[q].disease) for q in queries])
    names: list[str] = []
    ranks = {s: [] for s in ("known", "novel")}
    for setting in ("known", "novel"):
        for row, t_idx, f_idx, bases in cached_queries(cases, queries, by_pmid, setting):
            out = list(bases.items())
            for cfg in configs:
                c = settings[setting][cfg][row].astype(np.float64)
                out.append((f"lda{cfg}", c))
                for base_name in ("bj", "gated"):
                    for w in (0.1, 0.2, 0.3, 0.4, 0.5):
                        out.append(
                            (f"{base_name}+{w}*lda{cfg}", (1 - w) * bases[base_name] + w * c)
                        )
            if not names:
                names = [k for k, _ in out]
            ranks[setting].append([rank_of_best_true(x, t_idx, f_idx) for _, x in out])
    known = np.array(ranks["known"]).T
    novel = np.array(ranks["novel"]).T
    np.savez(OUT / f"lda_ranks_{dims}.npz", names=np.array(names), known=known, novel=novel)
    report(names, known, novel, folds)
    print(f"done ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
