"""Reading uploaded CSV and XLSX files: format, encoding and delimiter detection, headers, rows.

Line numbers are those a spreadsheet shows: the header row is line 1 (blank rows still count).
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

ENCODINGS = ("utf-8-sig", "cp1252")
DELIMITERS = (";", ",", "\t", "|")
MAX_COLUMNS = 200


class UnreadableFile(Exception):
    """The file is neither a CSV we can decode nor an XLSX workbook; the message is English."""


@dataclass
class FileInfo:
    file_format: str  # csv | xlsx
    encoding: str | None
    delimiter: str | None
    headers: list[str]
    total: int  # data rows that are not blank


def detect_format(head: bytes, filename: str) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # the old binary .xls
        raise UnreadableFile("Old .xls files are not supported: save the file as XLSX or CSV")
    return "csv"


def _encoding(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise UnreadableFile("This file is not a text CSV file")
    for encoding in ENCODINGS:
        try:
            raw.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("The file's encoding is not supported: save it as UTF-8")


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _headers(raw: list[Any]) -> list[str]:
    """Unique, non-empty header names ("Phone", "Phone (2)", "Column 3")."""
    out: list[str] = []
    for i, value in enumerate(raw[:MAX_COLUMNS], start=1):
        name = cell_text(value).replace("\ufeff", "").strip() or f"Column {i}"
        candidate, n = name, 2
        while candidate in out:
            candidate, n = f"{name} ({n})", n + 1
        out.append(candidate)
    while out and out[-1].startswith("Column ") and not cell_text(raw[len(out) - 1]).strip():
        out.pop()  # trailing empty columns
    return out


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a user typed: 75011.0 -> "75011", dates in ISO format."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | Decimal | int):
        return value.isoformat() if isinstance(value, date) else str(value)
    return str(value)


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            yield from enumerate(reader, start=1)
        except csv.Error:
            raise UnreadableFile("The CSV file is malformed")


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise UnreadableFile("This workbook cannot be read")
    try:
        sheet = workbook.worksheets[0]
        for line, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, list(row)
    finally:
        workbook.close()


def _raw_rows(path: Path, info: FileInfo) -> Iterator[tuple[int, list[Any]]]:
    if info.file_format == "xlsx":
        return _xlsx_rows(path)
    return _csv_rows(path, info.encoding or "utf-8-sig", info.delimiter or ",")


def _blank(row: list[Any]) -> bool:
    return all(not cell_text(v).strip() for v in row)


def inspect(path: Path, filename: str) -> FileInfo:
    """Detect the format, encoding and delimiter; read the headers; count the data rows."""
    with path.open("rb") as handle:
        head = handle.read(8)
    file_format = detect_format(head, filename)
    info = FileInfo(file_format, None, None, [], 0)
    if file_format == "csv":
        info.encoding = _encoding(path)
        with path.open(encoding=info.encoding, newline="") as handle:
            first = next((line for line in handle if line.strip()), "")
        info.delimiter = _delimiter(first)
    header_line = None
    for line, row in _raw_rows(path, info):
        if header_line is None:
            if _blank(row):
                continue
            header_line = line
            info.headers = _headers(row)
        elif not _blank(row):
            info.total += 1
    if not info.headers:
        raise UnreadableFile("The file is empty")
    return info


def rows(path: Path, info: FileInfo, after_line: int = 0) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, {header: cell text}) for every non-blank data row after `after_line`."""
    header_seen = False
    for line, row in _raw_rows(path, info):
        if not header_seen:
            header_seen = not _blank(row)
            continue
        if line <= after_line or _blank(row):
            continue
        yield line, {h: cell_text(row[i]) if i < len(row) else "" for i, h in enumerate(info.headers)}
