"""Spreadsheet cells that cannot turn into formulas (OWASP "CSV injection").

Excel, LibreOffice and WPS evaluate a CSV cell whose text starts with ``=``, ``+``, ``-`` or ``@``
(and, after a leading tab or carriage return, whatever follows), and openpyxl stores such an
.xlsx string as a formula. A roster cell a household or a grid worker typed (a name, an address,
a note) must never run as a formula on the next person's computer: every exporter passes every
cell through ``neutralise_formula``, which puts a single quote in front. Readers of our own
files undo it with ``restore_neutralised``, so an export imports back unchanged.

Mainland phone numbers are exported in national form (``13800138000``, ``0717-6123456``) and are
never touched; an international number keeps its ``+`` behind the quote (``'+14155550100``).
"""

from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise_formula(text: str) -> str:
    """``text`` as a cell no spreadsheet evaluates. A text already starting with the quote gets a
    second one, so that ``restore_neutralised`` gives back exactly what was written."""
    if text.startswith((*FORMULA_TRIGGERS, QUOTE)):
        return QUOTE + text
    return text


def restore_neutralised(text: str) -> str:
    """The inverse of ``neutralise_formula`` for cells read back from a file."""
    if text.startswith(QUOTE) and text[1:].startswith((*FORMULA_TRIGGERS, QUOTE)):
        return text[1:]
    return text
