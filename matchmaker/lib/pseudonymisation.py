"""Refuse case labels that look like personal identifiers.

A label is for the clinician to find the record again ("fam12-proband", "PMID_15266616_100"), and
is sent to peers. It must not carry a name with a date of birth, an e-mail address, a phone number
or a hospital record number. The rules are deliberately specific: published case ids with
PMIDs and lab sample codes (e.g. "DDD_SMH279310") must pass, so every one of the 8,483 labels of
the published development set is accepted (tested).
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july"
    "|august|september|october|november|december"
)
_DATES = [
    # 1990-01-31, 1990/1/31, 19900131 is caught by the long-number rule below.
    re.compile(r"(?<!\d)(19|20)\d{2}[-/.](0?[1-9]|1[0-2])[-/.](0?[1-9]|[12]\d|3[01])(?!\d)"),
    # 31/01/1990, 31.1.90, 1-31-1990
    re.compile(
        r"(?<!\d)(0?[1-9]|[12]\d|3[01])[-/.](0?[1-9]|[12]\d|3[01])[-/.]((19|20)?\d{2})(?!\d)"
    ),
    # 31 Jan 1990, 31-jan-90, January 31, 1990
    re.compile(
        rf"(?<![a-z])\d{{1,2}}[\s\-.]*({_MONTHS})[a-z]*[\s\-.,]*(\d{{2}}|\d{{4}})(?!\d)", re.I
    ),
    re.compile(
        rf"(?<![a-z])({_MONTHS})[a-z]*[\s\-.]*\d{{1,2}}(st|nd|rd|th)?,?[\s\-.]*\d{{4}}(?!\d)", re.I
    ),
]
_BIRTH_WORDS = re.compile(r"\b(dob|d\.o\.b|born|birth|geb|n[ée]e?)\b", re.I)
_RECORD_WORDS = re.compile(
    r"\b(mrn|nhs|chi|ssn|bsn|nir|insee|personnummer|med\.?\s*rec|medical\s*record|record\s*(no|number|#)"
    r"|hospital\s*(no|number|#)|patient\s*(no|number|#)|chart\s*(no|number|#)|hn|urn)\b[\s:#.\-_]*\d",
    re.I,
)
# Phone numbers: an optional +country code and groups of digits adding up to 9 or more digits.
_PHONE = re.compile(r"(?<![\w])(\+|00)?\d{1,4}([\s().\-]{1,2}\d{2,5}){2,5}(?![\w])")
# A bare run of 9+ digits: NHS numbers (10), most national ids and hospital record numbers.
_LONG_NUMBER = re.compile(r"(?<!\d)\d{9,}(?!\d)")
# Runs of digits that are public references rather than personal numbers: literature and
# ontology ids, and the sample ids of research cohorts as published (DDD, Autism Sequencing
# Consortium), which appear in the labels of published cases.
_PUBLIC_REFERENCE = re.compile(
    r"(pmid|pmc|doi|omim|mim|orpha|decipher|gsm|hp|clinvar|rs|ddd|asc)[_:\s-]*\d+", re.I
)
# "John Smith", "SMITH John": two name-like words, only refused when a date or birth word is present.
_NAME_LIKE = re.compile(r"\b[A-Z][a-z]{1,}[\s,]+[A-Z][a-z]{1,}\b|\b[A-Z]{2,}[\s,]+[A-Z][a-z]{1,}\b")
_YEAR = re.compile(r"(?<!\d)(19|20)\d{2}(?!\d)")


def identifier_problem(label: str) -> str | None:
    """Say why `label` looks like a personal identifier, or return None if it does not."""
    text = label.strip()
    if _EMAIL.search(text):
        return "looks like it contains an e-mail address"
    scrubbed = _PUBLIC_REFERENCE.sub(" ", text)
    if _RECORD_WORDS.search(scrubbed):
        return "looks like it contains a hospital or national record number"
    if any(pattern.search(scrubbed) for pattern in _DATES):
        return "looks like it contains a date (dates of birth must not be stored)"
    if _BIRTH_WORDS.search(scrubbed) and re.search(r"\d", scrubbed):
        return "looks like it contains a date of birth"
    if _LONG_NUMBER.search(scrubbed):
        return "looks like it contains a record, national id or phone number (9 or more digits)"
    for match in _PHONE.finditer(scrubbed):
        if sum(character.isdigit() for character in match.group()) >= 9:
            return "looks like it contains a phone number"
    if _NAME_LIKE.search(scrubbed) and _YEAR.search(scrubbed):
        return "looks like a name with a year of birth"
    return None
