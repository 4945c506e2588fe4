"""Finding HPO terms by what a clinician types: forgiving of typos, spellings and plurals.

``Ontology.search`` is the entry point; this module holds the index behind it, built once per
process from plain data (labels, synonyms, information content) and never changed afterwards.

How a query is matched. Labels and synonyms ("entries") are split into words; stop words ("of",
"the") are ignored on both sides. Each typed word must match some word of an entry, as:

- a prefix of the word (so a half-typed "microceph" or "intellectual dis" already finds terms),
- the same *spelling key*: the word folded so that British and American spellings, plurals and
  doubled letters meet ("haemangioma" / "hemangioma", "seizures" / "seizure", "intelectual" /
  "intellectual", "microcefaly" / "microcephaly", "behaviour" / "behavior"), also as a prefix,
- only when neither finds anything: a key one edit away (two for words of 8+ letters), for
  plain typos ("hypotonie", "nystagmis"). Edits are found with a symmetric-deletion index
  (SymSpell), so no query compares itself against the whole vocabulary.

How matches are ranked, best first:

1. entries that say the same as the query, word for word up to spelling, plurals and stop words
   (an exact label or synonym: "epilepsy" is a synonym of Seizure, "seizures" one of its
   spellings); among them the more common term first;
2. every other entry whose words cover the query, by a score (lower is better) that adds the
   term's information content (how rare it is among the annotated diseases of phenotype.hpoa,
   in nats: common terms first), 1.5 per entry word the query did not ask for (more specific
   terms later), and 2 per typing edit; a label beats a synonym of the same score;
3. entries that merely contain the typed text inside a word ("onic" in "tonic-clonic").

Each term appears once, with the entry that ranked it best. Commonness comes from the release's
disease annotations only, never from this node's cases.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from ontologies import csr

_WORD_PATTERN: Final = re.compile(r"[^\W_]+")
STOP_WORDS: Final = frozenset(
    {"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}
)
# Irregular plurals that clinicians type and that HPO labels use in the singular (or back).
_IRREGULAR: Final = {"teeth": "tooth", "feet": "foot", "children": "child", "vertebrae": "vertebra"}
# Spelling folds, applied in this order after plurals: British -> American vowels and endings,
# sounds spelled two ways, then doubled letters collapse.
_FOLDS: Final = (
    ("ae", "e"),
    ("oe", "e"),
    ("ph", "f"),
    ("th", "t"),
    ("our", "or"),
    ("y", "i"),
    ("k", "c"),
    ("z", "s"),
)
_DOUBLED: Final = re.compile(r"(.)\1+")
# Shorter words are too easily one edit away from an unrelated word ("fits" / "fit" / "pits").
_MIN_FUZZY_LENGTH: Final = 5
_TWO_EDITS_LENGTH: Final = 8
_EXTRA_WORD_COST: Final = 1.5  # nats of information content one unasked-for word is worth
_EDIT_COST: Final = 2.0
_SYNONYM_COST: Final = 0.25
_SPELLING_COST: Final = 0.25  # in edits: a plural or another spelling of a word


def normalise(text: str) -> str:
    """Lower case, accents dropped ("café" -> "cafe"), whitespace runs made single spaces."""
    if text.isascii():
        return " ".join(text.split()).casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.split()).casefold()


def words_of(normalised: str) -> list[str]:
    """The words of a normalised text, hyphens and punctuation being separators."""
    return _WORD_PATTERN.findall(normalised)


def spelling_key(word: str) -> str:
    """A normalised word folded so that its plurals and usual spellings become one string.

    "Seizures" and "seizure", "oedema" and "edema", "intelectual" and "intellectual" get the
    same key. Keys are for comparing only; they are not words anyone should read.
    """
    word = _IRREGULAR.get(word, word)
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for before, after in _FOLDS:
        word = word.replace(before, after)
    return _DOUBLED.sub(r"\1", word)


def edit_distance(first: str, second: str, limit: int) -> int:
    """Optimal string alignment distance (insertions, deletions, substitutions, swaps of two
    neighbours), or ``limit + 1`` when it exceeds ``limit``."""
    if abs(len(first) - len(second)) > limit:
        return limit + 1
    previous_previous: list[int] = []
    previous = list(range(len(second) + 1))
    for i, char in enumerate(first, start=1):
        current = [i] + [0] * len(second)
        for j, other in enumerate(second, start=1):
            cost = 0 if char == other else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char == second[j - 2] and first[i - 2] == other:
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous_previous, previous = previous, current
    return min(previous[-1], limit + 1)


def _deletions(key: str) -> set[str]:
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


@dataclass(frozen=True, slots=True)
class _Sorted:
    """Strings in order, for prefix lookups by bisection."""

    keys: list[str]

    def starting_with(self, prefix: str) -> Iterable[str]:
        position = bisect.bisect_left(self.keys, prefix)
        while position < len(self.keys) and self.keys[position].startswith(prefix):
            yield self.keys[position]
            position += 1


class TermSearchIndex:
    """The search structures for one release; build once, then query from any thread.

    Entries 0..n-1 are the term labels and the synonyms follow (``synonym_indptr`` gives the
    synonyms of each term). Building takes about half a second for the real release.
    """

    def __init__(
        self,
        labels: Sequence[str],
        synonym_texts: Sequence[str],
        synonym_indptr: NDArray[np.int32],
        information_content: NDArray[np.float64],
    ) -> None:
        n_terms = len(labels)
        self.n_terms = n_terms
        self.texts: tuple[str, ...] = tuple(labels) + tuple(synonym_texts)
        entry_terms = np.concatenate([np.arange(n_terms), csr.row_ids(synonym_indptr)])
        self.entry_terms: list[int] = entry_terms.tolist()
        self.normalised = [normalise(text) for text in self.texts]
        word_keys: dict[str, str] = {}  # spelling_key memo: words repeat across entries
        word_entries: dict[str, list[int]] = {}
        entry_word_counts: list[int] = []
        # Entries whose content words have these keys, in order: the "same words" lookup.
        self.same_words: dict[str, list[int]] = {}
        for entry, text in enumerate(self.normalised):
            content = _content_words(words_of(text))
            keys = []
            for word in content:
                key = word_keys.get(word)
                if key is None:
                    key = word_keys[word] = spelling_key(word)
                keys.append(key)
            self.same_words.setdefault(" ".join(keys), []).append(entry)
            entry_word_counts.append(len(set(content)))
            for word in set(content):
                word_entries.setdefault(word, []).append(entry)
        self.word_entries = {
            word: np.asarray(entries, dtype=np.int32) for word, entries in word_entries.items()
        }
        self.words = _Sorted(sorted(word_entries))
        key_words: dict[str, list[str]] = {}
        for word in word_entries:
            key_words.setdefault(word_keys[word], []).append(word)
        self.key_words = key_words
        self.keys = _Sorted(sorted(key_words))
        # SymSpell: every key and each of its one-letter deletions point back at the key. Two
        # keys one edit apart (any of the four edits) share an entry here.
        deletions: dict[str, list[str]] = {}
        for key in key_words:
            if len(key) >= _MIN_FUZZY_LENGTH - 1:
                for variant in {key} | _deletions(key):
                    deletions.setdefault(variant, []).append(key)
        self.deletions = deletions
        # What ranks an entry regardless of the query, as arrays indexed by entry.
        self.entry_word_counts = np.asarray(entry_word_counts, dtype=np.float64)
        is_synonym = np.arange(len(self.texts)) >= n_terms
        self.entry_commonness = information_content[entry_terms]
        self.static_cost = self.entry_commonness + _SYNONYM_COST * is_synonym
        # Among equal scores: the label, then the shorter text (a tie-breaker far below 0.01).
        lengths = np.asarray([len(text) for text in self.texts], dtype=np.float64)
        self.tie_breaker = (is_synonym + lengths / 1000.0) / 1000.0
        # "\n" cannot occur in a normalised query, so no substring match spans two entries.
        self.blob = "\n".join(self.normalised)
        self.offsets: list[int] = []
        position = 0
        for text in self.normalised:
            self.offsets.append(position)
            position += len(text) + 1

    def rank(self, query: str, limit: int) -> list[tuple[int, int]]:
        """The best ``limit`` (term, entry) pairs for a query already passed through
        ``normalise``."""
        tokens = words_of(query)
        content = _content_words(tokens) or tokens
        ranked: list[tuple[int, int]] = []
        seen: set[int] = set()

        def take(entries: Iterable[int]) -> bool:
            """Add the terms of these entries (best first) until ``limit``; True when full."""
            for entry in entries:
                term = self.entry_terms[entry]
                if term not in seen:
                    seen.add(term)
                    ranked.append((term, entry))
                    if len(ranked) == limit:
                        return True
            return False

        if content:
            query_key = " ".join(spelling_key(token) for token in content)
            same = self.same_words.get(query_key, [])
            # The same words: common terms first, then the exact text, then labels.
            same = sorted(
                same,
                key=lambda entry: (
                    self.entry_commonness[entry],
                    self.normalised[entry] != query,
                    self.tie_breaker[entry],
                ),
            )
            if take(same):
                return ranked
            entries, edits = self._covering_entries(content)
            extra = np.maximum(self.entry_word_counts[entries] - len(set(content)), 0)
            score = (
                self.static_cost[entries]
                + _EXTRA_WORD_COST * extra
                + _EDIT_COST * edits
                + self.tie_breaker[entries]
            )
            # Only the best few can be offered; a term's entries may crowd the head, so take
            # a generous slice before the full sort.
            head = min(len(score), limit * 20)
            if head < len(score):
                best = np.argpartition(score, head - 1)[:head]
                best = best[np.argsort(score[best], kind="stable")]
            else:
                best = np.argsort(score, kind="stable")
            if take(entries[best].tolist()):
                return ranked
            if head < len(score) and take(entries[np.argsort(score, kind="stable")].tolist()):
                return ranked
        take(self._substring_entries(query))
        return ranked

    def _covering_entries(self, tokens: list[str]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Entries with a matching word for every token, and the edits each needed in total."""
        covered = np.zeros(0, dtype=np.int64)
        total_edits = np.zeros(0, dtype=np.float64)
        for position, token in enumerate(tokens):
            matches = self._matching_words(token)
            if not matches:
                return covered[:0], total_edits[:0]
            postings = [self.word_entries[word] for word in matches]
            entries = np.concatenate(postings).astype(np.int64)
            edits = np.repeat(
                np.fromiter(matches.values(), dtype=np.float64, count=len(matches)),
                [len(posting) for posting in postings],
            )
            # One row per entry, with its fewest edits: sort by (entry, edits), keep firsts.
            order = np.lexsort((edits, entries))
            entries, edits = entries[order], edits[order]
            first = np.ones(len(entries), dtype=np.bool_)
            first[1:] = entries[1:] != entries[:-1]
            entries, edits = entries[first], edits[first]
            if position == 0:
                covered, total_edits = entries, edits
            else:
                covered, left, right = np.intersect1d(
                    covered, entries, assume_unique=True, return_indices=True
                )
                total_edits = total_edits[left] + edits[right]
        return covered, total_edits

    def _matching_words(self, token: str) -> dict[str, float]:
        """Vocabulary words a typed word may stand for -> edits needed.

        A word the token begins needs none; the same word up to spelling and plurals a quarter
        of one (so that, among otherwise equal terms, the spelling typed wins); a typo 1 or 2.
        """
        matches: dict[str, float] = dict.fromkeys(self.words.starting_with(token), 0.0)
        key = spelling_key(token)
        for word in self.key_words.get(key, ()):
            matches.setdefault(word, _SPELLING_COST)
        # A short key is a prefix of too much ("dys" -> "dis" -> "disease").
        if len(key) >= _MIN_FUZZY_LENGTH:
            for prefixed in self.keys.starting_with(key):
                for word in self.key_words[prefixed]:
                    matches.setdefault(word, _SPELLING_COST)
        if matches or len(key) < _MIN_FUZZY_LENGTH:
            return matches
        limit = 1 if len(key) < _TWO_EDITS_LENGTH else 2
        candidates: set[str] = set()
        for variant in {key} | _deletions(key):
            candidates.update(self.deletions.get(variant, ()))
        for candidate in candidates:
            edits = edit_distance(key, candidate, limit)
            if edits <= limit:
                for word in self.key_words[candidate]:
                    matches[word] = min(float(edits), matches.get(word, float(edits)))
        return matches

    def _substring_entries(self, query: str) -> Iterable[int]:
        """Entries containing the query anywhere, shortest first."""
        found = []
        position = self.blob.find(query)
        while position >= 0:
            entry = bisect.bisect_right(self.offsets, position) - 1
            found.append(entry)
            # One hit per entry is enough; skip to the next entry.
            next_start = (
                self.offsets[entry + 1] if entry + 1 < len(self.offsets) else len(self.blob)
            )
            position = self.blob.find(query, next_start)
        return sorted(found, key=lambda entry: (len(self.texts[entry]), entry))


def _content_words(words: list[str]) -> list[str]:
    return [word for word in words if word not in STOP_WORDS]
