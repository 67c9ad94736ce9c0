"""Reading what clients send: encodings, title lines above the header, ragged and totals lines.

Exports from Excel and ERPs arrive as cp1252 or latin-1, UTF-8 with a byte-order mark, UTF-16,
with a title line or two above the header, and with lines that do not fit the header (a
totals line with fewer fields, an unquoted comma in a name). The engine reads clean UTF-8
fast; a file that is not clean is first rewritten here, line by line, into a clean UTF-8 copy
that keeps each row's position in the original, and the lines that do not fit are set aside
with a reason (``malformed_row`` or ``totals_row``) to be counted like any rejected row.
Definitions in docs/methodology.md, "Data quality".
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

from ccnb._process_folders import process_folder

__all__ = [
    "ROW_COLUMN",
    "TOTALS_PATTERN",
    "TOTALS_WORDS",
    "CleanCsv",
    "detect_delimiter",
    "detect_encoding",
    "detect_title_lines",
    "is_totals_text",
    "normalise_csv",
]

#: the column of a clean copy holding each row's 0-based position among the original's rows
ROW_COLUMN = "_ccnb_source_row"

#: a cell starting like this (lower case) marks a totals line, not a customer's row
TOTALS_PATTERN = (
    r"^\s*(grand\s*total|sub\s*total|total(e|en|es)?|totaal|summe|gesamt(summe)?|sum|somme)\b"
)
TOTALS_WORDS = re.compile(TOTALS_PATTERN, re.IGNORECASE)

_DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 20


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with _open_bytes(path) as handle:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: str | Path) -> str:
    """The text encoding of a file: a byte-order mark, else UTF-8 if it decodes, else cp1252.

    Parameters
    ----------
    path : str or pathlib.Path
        A text file (optionally gzip-compressed).

    Returns
    -------
    str
        ``"utf-8-sig"`` or ``"utf-16"`` (byte-order mark), ``"utf-16-le"``/``"utf-16-be"``
        (no mark, every other byte zero), ``"utf-8"`` (the whole file decodes), ``"cp1252"``
        (Windows Western European, a superset of latin-1's printable characters), else
        ``"latin-1"`` (decodes any byte).
    """
    path = Path(path).expanduser()
    with _open_bytes(path) as handle:
        head = handle.read(4096)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 4 and head.count(0) >= len(head) // 3:
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    for encoding in ("utf-8", "cp1252"):
        if _decodes(path, encoding):
            return encoding
    return "latin-1"


def _head_lines(path: Path, encoding: str, n: int = 50) -> list[str]:
    with _open_text(path, encoding) as handle:
        lines = []
        for line in handle:
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= n:
                break
    return lines


def _open_text(path: Path, encoding: str):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def _fields(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def detect_delimiter(path: str | Path, *, encoding: str, skip_rows: int = 0) -> str:
    """The delimiter that splits the header and the lines below it into the same fields.

    Parameters
    ----------
    path : str or pathlib.Path
        A CSV file.
    encoding : str
        Its encoding (:func:`detect_encoding`).
    skip_rows : int, default 0
        Title lines above the header.

    Returns
    -------
    str
        One of ``,`` ``;`` tab ``|``: the one giving the most header fields that most of the
        next lines match (a comma when nothing splits).
    """
    lines = [line for line in _head_lines(Path(path).expanduser(), encoding)[skip_rows:] if line]
    best, best_score = ",", (0, 0)
    for delimiter in _DELIMITERS:
        if not lines:
            break
        width = len(_fields(lines[0], delimiter))
        matching = sum(len(_fields(line, delimiter)) == width for line in lines[1:])
        score = (matching if width > 1 else -1, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def detect_title_lines(path: str | Path, *, encoding: str, delimiter: str | None = None) -> int:
    """Lines above the header: those before the first line as wide as the lines below it.

    Parameters
    ----------
    path : str or pathlib.Path
        A CSV file.
    encoding : str
        Its encoding.
    delimiter : str, optional
        Its delimiter (detected on the lines below the first when None).

    Returns
    -------
    int
        How many lines to skip (0 when the first line is the header).
    """
    path = Path(path).expanduser()
    lines = _head_lines(path, encoding)
    if len(lines) < 3:
        return 0
    for skip in range(min(5, len(lines) - 2)):
        chosen = delimiter or detect_delimiter(path, encoding=encoding, skip_rows=skip)
        widths = [len(_fields(line, chosen)) for line in lines[skip:] if line]
        body = widths[1:]
        typical = max(set(body), key=body.count) if body else 0
        if typical > 1 and widths[0] == typical:
            return skip
    return 0


def is_totals_text(value: str | None) -> bool:
    """Whether a cell reads like a totals label ("Total", "Grand total", "Summe", ...)."""
    return bool(value) and bool(TOTALS_WORDS.match(value))


@dataclass
class CleanCsv:
    """A clean UTF-8 copy of a client's CSV and the lines set aside.

    Attributes
    ----------
    path : pathlib.Path
        The copy: comma-separated, UTF-8, the header trimmed, ``ROW_COLUMN`` first.
    rows : int
        Rows in the original below the header (blank lines are not rows).
    set_aside : list of tuple
        ``(position, reason, text)`` of the lines not copied: ``malformed_row`` (more or fewer
        fields than the header) or ``totals_row`` (such a line whose cell reads like a total).
    header : list of str
        The trimmed column names.
    """

    path: Path
    rows: int
    set_aside: list[tuple[int, str, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)


def normalise_csv(
    path: str | Path, *, encoding: str, delimiter: str, skip_rows: int = 0
) -> CleanCsv:
    """Rewrite a client's CSV as clean UTF-8, setting aside the lines that do not fit.

    Parameters
    ----------
    path : str or pathlib.Path
        The client's file (optionally gzip-compressed).
    encoding : str
        Its encoding.
    delimiter : str
        Its delimiter.
    skip_rows : int, default 0
        Title lines above the header, skipped (blank lines after them too).

    Returns
    -------
    CleanCsv
        The copy, the count of rows and the lines set aside. A line with more fields than the
        header is kept when the extra fields are empty (trailing separators from Excel).
    """
    path = Path(path).expanduser()
    copies = process_folder("read")  # removed when the process ends (or by the next run)
    target = copies / f"{len(list(copies.iterdir()))}-{path.stem}.csv"
    set_aside: list[tuple[int, str, str]] = []
    rows = 0
    with (
        _open_text(path, encoding) as source,
        open(target, "w", encoding="utf-8", newline="") as out,
    ):
        for _ in range(skip_rows):
            source.readline()
        reader = csv.reader(source, delimiter=delimiter)
        header = next((row for row in reader if any(value.strip() for value in row)), [])
        header = [name.strip() for name in header]
        while header and header[-1] == "":
            header.pop()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([ROW_COLUMN, *header])
        for fields in reader:
            if not any(value.strip() for value in fields):
                continue  # a blank line is not a row
            position = rows
            rows += 1
            while len(fields) > len(header) and fields[-1].strip() == "":
                fields.pop()
            if len(fields) != len(header):
                reason = "totals_row" if any(map(is_totals_text, fields)) else "malformed_row"
                set_aside.append((position, reason, delimiter.join(fields)))
                continue
            writer.writerow([position, *fields])
    return CleanCsv(path=target, rows=rows, set_aside=set_aside, header=header)
