"""Reading CSV files: the header, the delimiter, and the rows, streamed."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import IO

from accounts.models import ImportJob
from chs_site.errors import ApplicationError
from chs_site.parsing import REFERENCE_LOCALE

# A spreadsheet saves CSV with ";" where the comma is the decimal mark (de, fr, es, it,
# nl, pt…): a ";"-delimited file's numbers are read the German way unless the importer
# chooses otherwise; every other file's the English way, as they always were.
LOCALE_BY_DELIMITER = {";": "de"}
# Offered on the imports pages (the command takes any locale Babel knows).
NUMBER_LOCALES = ("en", "en_IN", "de", "de_CH", "es", "fr", "it", "nl", "pl", "pt_BR", "sv")


def normalise_header(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def open_text(fileobj: IO[bytes]) -> io.TextIOWrapper:
    return io.TextIOWrapper(fileobj, encoding="utf-8-sig", newline="")


def sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def default_number_locale(delimiter: str) -> str:
    return LOCALE_BY_DELIMITER.get(delimiter, REFERENCE_LOCALE)


def read_header(fileobj: IO[bytes]) -> tuple[list[str], str]:
    """The header row and delimiter; ApplicationError when the file is not a usable CSV."""
    text = open_text(fileobj)
    try:
        sample = text.read(64 * 1024)
    except UnicodeDecodeError:
        raise ApplicationError(
            "The file is not UTF-8 text; save it from your spreadsheet as 'CSV UTF-8'."
        ) from None
    finally:
        text.detach()
    first = sample.splitlines()[0] if sample.strip() else ""
    if not first.strip():
        raise ApplicationError("The file is empty; the first line must name the columns.")
    delimiter = sniff_delimiter(sample)
    header = next(csv.reader([first], delimiter=delimiter))
    header = [h.strip() for h in header]
    if any(not h for h in header):
        raise ApplicationError("Every column in the first line needs a name.")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise ApplicationError(f"Column names must be unique; repeated: {', '.join(dup)}.")
    return header, delimiter


def iter_rows(job: ImportJob) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each data row, skipping blank lines; streams the file."""
    delimiter = (job.mapping or {}).get("delimiter", ",")
    with job.file.open("rb") as raw:
        text = open_text(raw)
        reader = csv.reader(text, delimiter=delimiter)
        next(reader, None)  # the header
        for cells in reader:
            if not any(cells) or (len(cells) == 1 and not cells[0].strip()):
                continue  # a blank line
            yield reader.line_num, cells


# --- row parsers -------------------------------------------------------------------------

CellErrors = list[tuple[str, str]]  # (column, reason)


class Importer:
    """Parses rows of one kind. ``prepare`` loads lookups once; ``parse`` turns a row into
    an item or cell errors; ``write`` stores a chunk of items (inside the caller's
    transaction) and returns counts."""
