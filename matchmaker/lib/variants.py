"""Variant positions as people read them: 1-based, as VCF files and genome browsers show them.

The node stores and exchanges MME coordinates: `start` is 0-based (the first base of a
chromosome is 0). Clinicians read and type VCF-style positions, where that base is 1. These
functions are the one conversion, both ways, and `describe_variant` is the one way a variant is
written for a person (case page, match page, anything else shown or sent), so that the same
variant never reads as two positions one base apart.
"""

from __future__ import annotations


def vcf_position(start: int) -> int:
    """The 1-based (VCF, genome browser) position of a 0-based MME `start`."""
    return start + 1


def mme_start(position: int) -> int:
    """The 0-based MME `start` of a 1-based (VCF) position."""
    return position - 1


def chromosome_label(reference_name: str) -> str:
    """ "7" -> "chr7", "MT" -> "chrM" (as UCSC and VCF files write them); "chr7" stays."""
    name = reference_name.strip()
    if name[:3].lower() == "chr":
        name = name[3:]
    return "chrM" if name.upper() in ("M", "MT") else f"chr{name}"


def describe_variant(
    *,
    assembly: str,
    reference_name: str,
    start: int,
    reference_bases: str = "",
    alternate_bases: str = "",
) -> str:
    """ "GRCh38 chr3:25750426 A>G" for a variant whose 0-based MME start is 25750425.

    The alleles are left out when neither is known, and a missing one reads "?".
    """
    text = f"{chromosome_label(reference_name)}:{vcf_position(start)}"
    if assembly.strip():
        text = f"{assembly.strip()} {text}"
    if reference_bases or alternate_bases:
        text += f" {reference_bases or '?'}>{alternate_bases or '?'}"
    return text
