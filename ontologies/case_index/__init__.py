"""Every stored case as a few flat arrays, ranked against one query without a loop per case.

A ``CaseIndex`` holds the phenotype profiles (CSR: per-case offsets into one array of int16 term
indices, observed and excluded), the candidate genes (CSR of int32 codes into a gene vocabulary)
and two flag bits per case (shareable, test). A search bounds every row's score from above with
a phenotype scorer from ``ontologies.similarity`` (numpy) split across the CPU cores, adds the
genotype score (does the case share a gene with the query), then scores exactly only the rows
whose bound can still reach the ``limit``-th best exact score: exact top-k, identical to scoring
every row (``pruning.search_pruned``). A scorer without bounds scores every row. A million cases
take about 60 MB. Note that ``ufunc.reduceat`` holds the GIL (measured with numpy 2.4), so the
threads overlap only the gathers and element-wise work.

Storage is two segments of the same shape: the *main* segment, sorted by key, and a small append-
only *delta* segment that takes upserts. Replacing or removing a case clears its row's ``alive``
bit (a tombstone); ``compact`` folds the delta into a new main segment and drops dead rows.

Thread-safety: all the arrays one search reads sit in one immutable ``storage.Snapshot``. A
mutation (upsert, remove, compact), serialised by a lock, builds a new snapshot (copying only the
small delta and the one-byte-per-row ``alive`` array it changes) and swaps it in with one
attribute assignment. A search reads the current snapshot once at its start, so it sees the index
either before or after any mutation, never half of one, and a search that starts after ``remove``
returned never returns the removed key. Searches never block each other or mutations.

Modules: ``storage`` (the arrays of a segment and a snapshot, cases in and out of rows),
``building`` (building and updating segments), ``threads`` (the pool and its shares of work),
``ranking`` (scorer protocols, filters, scoring every row, top-k and merge), ``pruning`` (exact
top-k from upper bounds), ``search`` (one search over a snapshot), ``select`` (unscored filters
for counting, Beacon) and ``index`` (``CaseIndex``). The public names are re-exported here.
"""

from __future__ import annotations

from ontologies.case_index.index import CaseIndex
from ontologies.case_index.ranking import (
    BoundedPhenotypeScoring,
    Hit,
    PhenotypeScoring,
    SearchStatistics,
)
from ontologies.case_index.storage import (
    DEFAULT_COMPACT_THRESHOLD,
    DISEASE_PROFILE_WIDTH,
    FLAG_SHAREABLE,
    FLAG_TEST,
    FORMAT,
    FORMAT_VERSION,
    IndexedCase,
)

__all__ = [
    "DEFAULT_COMPACT_THRESHOLD",
    "DISEASE_PROFILE_WIDTH",
    "FLAG_SHAREABLE",
    "FLAG_TEST",
    "FORMAT",
    "FORMAT_VERSION",
    "BoundedPhenotypeScoring",
    "CaseIndex",
    "Hit",
    "IndexedCase",
    "PhenotypeScoring",
    "SearchStatistics",
]
