"""Invitations from a contacts file, as people actually export them.

Spreadsheets and phones write CSV in whatever their locale likes: UTF-8 with or without a
BOM, UTF-16, Windows-1252/Latin-1; commas, semicolons (where the comma is the decimal
separator) or tabs; a header in any language's spelling and in any column order. The file is
read as it is instead of asking the user to convert it, and every row that cannot be taken
is reported with its line number and the reason, so the user can fix exactly those.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from .auth import User
from .errors import AppError
from .sanitize import storable
from .store import Store

DELIMITERS = (",", ";", "\t", "|")

# Header spellings, compared after lower-casing and turning `_-.#/` into spaces.
PHONE_HEADERS = {
    "phone", "phone number", "phonenumber", "phone no", "phone nr", "mobile", "mobile number", "mobile phone",
    "cell", "cell phone", "cellphone", "tel", "telephone", "telephone number", "whatsapp", "whatsapp number",
    "msisdn", "wa id", "waid", "number", "contact number", "primary phone", "phone 1 value", "telefon",
    "telefono", "teléfono", "téléphone", "telephone portable", "portable", "handy", "handynummer", "celular",
    "numero", "número", "numéro", "namba", "namba ya simu", "simu",
}  # fmt: skip
NAME_HEADERS = {
    "name", "full name", "fullname", "display name", "contact", "contact name", "customer", "customer name",
    "client", "client name", "person", "nom", "nom complet", "nombre", "nome", "jina", "kundenname",
}  # fmt: skip
FIRST_NAME_HEADERS = {"first name", "firstname", "given name", "forename", "prénom", "prenom", "vorname"}
LAST_NAME_HEADERS = {"last name", "lastname", "surname", "family name", "nom de famille", "apellido", "nachname"}


class UnreadableFile(ValueError):
    """The upload is not a CSV text file at all; the message says what it is instead."""


@dataclass
class Columns:
    phone: int
    name: int | None = None
    first: int | None = None
    last: int | None = None


@dataclass
class Parsed:
    rows: list[tuple[int, str, str]] = field(default_factory=list)  # (line, name, phone)
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"line", "error"}


def decode(raw: bytes) -> str:
    """The file's text, whichever of the usual encodings it is in."""
    if raw.startswith(b"PK\x03\x04") or raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFile("this is a spreadsheet (Excel/LibreOffice), not a CSV file: save it as CSV first")
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom):
            try:
                return storable(raw[len(bom) :].decode(encoding))
            except UnicodeDecodeError:
                raise UnreadableFile(f"the file starts like {encoding.upper()} text but is not") from None
    head = raw[:4096]
    if head.count(b"\x00") * 3 > len(head):
        for encoding in ("utf-16-le", "utf-16-be"):  # UTF-16 without a BOM: every other byte is NUL
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                continue
            if text.isprintable() or all(ch.isprintable() or ch in "\r\n\t" for ch in text):
                return storable(text)
        raise UnreadableFile("this is not a text file: export the contacts as CSV")
    try:
        return storable(raw.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    # Windows-1252 is what Excel writes on Western systems; it is Latin-1 plus € and curly
    # quotes in 0x80-0x9f, where Latin-1 has only control characters.
    try:
        return storable(raw.decode("cp1252"))
    except UnicodeDecodeError:
        return storable(raw.decode("latin-1"))


def _header_word(cell: str) -> str:
    return " ".join(re.sub(r"[_\-.#/:()]+", " ", cell.strip().lower()).split())


def _looks_like_phone(cell: str) -> bool:
    digits = sum(ch.isdigit() for ch in cell)
    return digits >= 6 and digits >= 0.6 * len(cell.replace(" ", ""))


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the first lines into the same number (two or more) of cells."""
    best, best_score = ",", (-1, -1)
    for delimiter in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if any(c.strip() for c in row)]
        except csv.Error:  # a broken sample: parse() reports the line
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for n in counts if n == counts[0])
        score = (consistent, -DELIMITERS.index(delimiter))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def header_columns(row: list[str]) -> Columns | None:
    """Which columns hold the name and the number, if `row` is a header naming them."""
    words = [_header_word(cell) for cell in row]
    if any(_looks_like_phone(cell) for cell in row):
        return None
    phone = next((i for i, w in enumerate(words) if w in PHONE_HEADERS), None)
    if phone is None:  # "Mobile phone (home)", "WhatsApp no."
        phone = next(
            (i for i, w in enumerate(words) if any(k in w.split() for k in ("phone", "mobile", "whatsapp", "tel"))),
            None,
        )
    name = next((i for i, w in enumerate(words) if w in NAME_HEADERS and i != phone), None)
    first = next((i for i, w in enumerate(words) if w in FIRST_NAME_HEADERS), None)
    last = next((i for i, w in enumerate(words) if w in LAST_NAME_HEADERS), None)
    if phone is None and name is None and first is None:
        return None
    return Columns(phone=-1 if phone is None else phone, name=name, first=first, last=last)


def parse(text: str) -> Parsed:
    """Rows (line, name, phone) ready to invite, and the line and reason of each rejected one."""
    out = Parsed()
    sample = [line for line in text.splitlines() if line.strip()][:20]
    delimiter = sniff_delimiter(sample)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns: Columns | None = None
    header: list[str] = []
    first = True
    while True:
        line = reader.line_num + 1  # where the next row starts (a quoted cell may span lines)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.errors.append({"line": line, "error": f"not valid CSV: {exc}"})
            break
        if not any(cell.strip() for cell in row):
            continue
        if first:
            first = False
            columns = header_columns(row)
            header = [cell.strip() for cell in row]
            if columns is not None:
                if columns.phone < 0:
                    found = ", ".join(repr(c.strip()) for c in row if c.strip())
                    out.errors.append(
                        {"line": line, "error": f"no phone column in the header ({found}): name one 'phone'"}
                    )
                    return out
                if columns.name is None and columns.first is None:
                    found = ", ".join(repr(c.strip()) for c in row if c.strip())
                    error = f"no name column in the header ({found}): name one 'name'"
                    out.errors.append({"line": line, "error": error})
                    return out
                continue
        if columns is not None:
            name_cell = _name_from(row, columns)
            phone_cell = row[columns.phone].strip() if columns.phone < len(row) else ""
            if not phone_cell:
                out.errors.append({"line": line, "error": f"no phone number in the {header[columns.phone]!r} column"})
                continue
            out.rows.append((line, name_cell, phone_cell))
            continue
        # No header: the cell that looks like a number is the phone, the other one the name.
        cells = [cell.strip() for cell in row]
        if len(cells) < 2:
            out.errors.append({"line": line, "error": "expected two columns: name, phone"})
            continue
        phone_at = next((i for i, cell in enumerate(cells) if _looks_like_phone(cell)), 1)
        name_at = next((i for i, cell in enumerate(cells) if i != phone_at and cell), 1 - min(phone_at, 1))
        out.rows.append((line, cells[name_at] if name_at != phone_at else "", cells[phone_at]))
    return out


def _name_from(row: list[str], columns: Columns) -> str:
    def cell(i: int | None) -> str:
        return row[i].strip() if i is not None and i < len(row) else ""

    return cell(columns.name) or " ".join(part for part in (cell(columns.first), cell(columns.last)) if part)


async def import_invitations(store: Store, owner_id: int, raw: bytes, user: User | None = None) -> dict[str, Any]:
    """Invite every good row; the others come back as {"line", "error"}, in file order.
    `user` (who imports; None: the CLI) obtains no conversation it may not see."""
    parsed = parse(decode(raw))
    imported, errors = 0, list(parsed.errors)
    for line, name, phone in parsed.rows:
        try:
            await store.add_invitation(owner_id, name, phone, user)
            imported += 1
        except AppError as exc:
            errors.append({"line": line, "error": exc.message})
    errors.sort(key=lambda e: e["line"])
    return {"imported": imported, "errors": errors}
