"""From the bytes of an .xlsx or .csv file to sections of text rows.

No file system access: the caller reads the bytes. CSV text is decoded the way Chinese Excel
saves it: a UTF-8 BOM means UTF-8; otherwise strict UTF-8 is tried, then GB18030 (a superset
of GBK and GB2312).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePath

from defusedxml import DefusedXmlException
from openpyxl import load_workbook

from contacts.errors import RosterError, RosterProblem
from contacts.roster.columns import SECTION_NAMES, fold
from contacts.roster.sections import Line, RosterFile, Section, SectionKind, file_problem
from contacts.spreadsheet import restore_neutralised

_SPACE = re.compile(r"^[\s\u3000\ufeff]+|[\s\u3000\ufeff]+$")
# First cell of a CSV line that starts a section, e.g. [户] or 【责任人】.
_MARKER = re.compile(r"^[\[【](.+)[\]】]$")
# A district's roster (125,000 households) is 28 MB as CSV, 12 MB as .xlsx with 94 MB of XML inside.
MAX_ROSTER_BYTES = 64 * 1024 * 1024
# A workbook is a zip: a small file can unpack to gigabytes ("zip bomb"). zipfile never reads more
# than the sizes a member declares, so the declared sizes bound the work.
MAX_UNPACKED_XLSX_BYTES = 256 * 1024 * 1024


def read_roster_file(name: str, data: bytes, max_bytes: int = MAX_ROSTER_BYTES) -> RosterFile:
    """Sections of the file called ``name``; raises RosterError when it cannot be read at all."""
    reader = _READERS.get(PurePath(name).suffix.lower())
    if reader is None:
        suffix = PurePath(name).suffix or "(none)"
        raise RosterError([file_problem(f"unknown file type {suffix}; use .xlsx or .csv")])
    if len(data) > max_bytes:
        raise RosterError([too_large(len(data), max_bytes)])
    if not data.strip():
        raise RosterError([file_problem("the file is empty")])
    roster_file = reader(data)
    if roster_file.find(SectionKind.HOUSEHOLDS) is None:
        raise RosterError([file_problem(_NO_HOUSEHOLDS[reader])])
    kinds = [s.kind for s in roster_file.sections]
    if len(set(kinds)) < len(kinds):
        raise RosterError([file_problem("a section appears twice; keep one 户 and one 责任人 section")])
    return roster_file


def too_large(size: int, limit: int) -> RosterProblem:
    return file_problem(f"the file is {size / 1e6:.1f} MB, more than the {limit / 1e6:.1f} MB a roster may be "
                        "(directory.max_roster_bytes); split it by town or village")


def clean(value: object) -> str:
    """Cell value → stripped text; Excel numbers keep no trailing .0 (phones typed as numbers); the
    quote our exports put before a formula-like cell removed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        value = value.isoformat()
    return _SPACE.sub("", restore_neutralised(str(value)))


# ---------------------------------------------------------------- CSV


def decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
        return _decode(body, "utf-8", "line {line} is not UTF-8 text although the file is marked as UTF-8")
    if b"\x00" in data:
        raise RosterError([file_problem("not a text file; save the sheet as CSV or .xlsx")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass  # not UTF-8: what Chinese Excel writes for plain "CSV"
    return _decode(data, "gb18030", "line {line} is neither UTF-8 nor GB18030 text; save the file as CSV UTF-8")


def _decode(data: bytes, encoding: str, reason: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RosterError([file_problem(reason.format(line=line))]) from None


def read_csv(data: bytes) -> RosterFile:
    lines = [line for line in csv_lines(decode(data)) if not line.blank]
    return RosterFile(tuple(_csv_sections(lines)))


def csv_lines(text: str) -> Iterator[Line]:
    """Rows with the physical line each starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for row in reader:
            yield Line(start, tuple(clean(cell) for cell in row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise RosterError([file_problem(f"line {start} is not valid CSV: {exc}")]) from None


def _csv_sections(lines: list[Line]) -> Iterator[Section]:
    kind, body = SectionKind.HOUSEHOLDS, list[Line]()
    for line in lines:
        marker = _marker(line)
        if marker is None:
            body.append(line)
            continue
        yield from _section(kind, body)
        kind, body = marker, []
    yield from _section(kind, body)


def _section(kind: SectionKind, body: list[Line]) -> Iterator[Section]:
    if body:
        yield Section(kind, body[0], tuple(body[1:]))


def _marker(line: Line) -> SectionKind | None:
    match = _MARKER.match(line.cells[0]) if line.cells and not any(line.cells[1:]) else None
    if match is None:
        return None
    kind = SECTION_NAMES.get(fold(match.group(1)))
    if kind is None:
        reason = f"unknown section {line.cells[0]}; use [户] or [责任人]"
        raise RosterError([RosterProblem(row=line.number, column="A", reason=reason)])
    return kind


# ---------------------------------------------------------------- xlsx


def read_xlsx(data: bytes) -> RosterFile:
    try:
        _check_unpacked_size(data)
        sections = _xlsx_sections(data)
    except RosterError:
        raise
    except Exception as exc:  # openpyxl raises zip, XML, key and value errors alike for a damaged file
        if _entities_refused(exc):
            raise RosterError([file_problem("the workbook contains XML entity declarations, which Excel never "
                                            "writes; refused (open it in Excel and save it again)")]) from None
        raise RosterError(
            [file_problem("not a readable .xlsx workbook (damaged, password-protected or another format)")]
        ) from None
    order = list(SectionKind)
    return RosterFile(tuple(sorted(sections, key=lambda s: order.index(s.kind))))


def _entities_refused(exc: BaseException | None) -> bool:
    """openpyxl parses through defusedxml, which refuses DTD entities (entity bombs, external entities
    reading our files); openpyxl wraps that error in its own."""
    while exc is not None:
        if isinstance(exc, DefusedXmlException):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _check_unpacked_size(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
    if unpacked > MAX_UNPACKED_XLSX_BYTES:
        raise RosterError([file_problem(f"the workbook unpacks to {unpacked / 1e6:.0f} MB, more than the "
                                        f"{MAX_UNPACKED_XLSX_BYTES / 1e6:.0f} MB a roster may be; split it")])


def _xlsx_sections(data: bytes) -> list[Section]:
    # Read-only mode parses a sheet while it is iterated, so damage may surface only here.
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sections = [_sheet(book[name], name) for name in book.sheetnames if fold(name) in SECTION_NAMES]
    finally:
        book.close()
    return [s for s in sections if s is not None]


def _sheet(sheet: object, name: str) -> Section | None:
    rows = sheet.iter_rows(values_only=True)  # type: ignore[attr-defined]
    lines = [line for line in _numbered(rows) if not line.blank]
    if not lines:
        return None
    return Section(SECTION_NAMES[fold(name)], lines[0], tuple(lines[1:]), sheet=name)


def _numbered(rows: Iterable[tuple[object, ...]]) -> Iterator[Line]:
    for number, row in enumerate(rows, start=1):
        yield Line(number, tuple(clean(v) for v in row))


_READERS: dict[str, Callable[[bytes], RosterFile]] = {".csv": read_csv, ".xlsx": read_xlsx}
_NO_HOUSEHOLDS: dict[Callable[[bytes], RosterFile], str] = {
    read_csv: "no households section: the first line must be the 户 header row (optionally after [户])",
    read_xlsx: "no sheet named 户 (households) with a header row",
}
