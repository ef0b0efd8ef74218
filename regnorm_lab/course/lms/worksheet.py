"""The grade templates an LMS exports, read as they are: Canvas's gradebook CSV, Moodle's grading worksheet.

The instructor downloads the template first; its rows are the roster. Reading
keeps every column in order (the LMS wants its own columns back), the BOM Moodle
writes, and Canvas's optional ``Points Possible`` row.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import pathlib
import re

__all__ = ["Person", "Template", "read_canvas", "read_moodle", "read_roster", "write_template", "canvas_columns", "moodle_id"]

CANVAS_REQUIRED = ("Student", "ID")
MOODLE_REQUIRED = ("Identifier", "Grade")


@dataclasses.dataclass(frozen=True)
class Person:
    """A roster student's name and e-mail as the LMS spells them (empty where the template has none)."""

    last_name: str
    first_name: str
    email: str


@dataclasses.dataclass
class Template:
    """A grade template: columns in order, the students' rows, and Canvas's rows that are not students."""

    kind: str
    columns: list[str]
    rows: list[dict[str, str]]
    meta_rows: list[dict[str, str]] = dataclasses.field(default_factory=list)
    bom: bool = False

    def ids(self) -> list[str]:
        """The student ids of the roster, in row order (Canvas ``ID``; Moodle's participant id)."""
        if self.kind == "canvas":
            return [r["ID"].strip() for r in self.rows]
        return [moodle_id(r["Identifier"]) for r in self.rows]

    def people(self) -> dict[str, Person]:
        """Student id -> name and e-mail.

        Canvas writes ``Student`` as "Last, First" and has no e-mail column (its
        ``SIS Login ID`` counts when it is an address). Moodle writes ``Full name``
        as "First Last": the last word is taken as the last name, which is wrong
        for some names, so check the export if the split matters to you.
        """
        out = {}
        for sid, row in zip(self.ids(), self.rows):
            if self.kind == "canvas":
                last, _, first = (row.get("Student") or "").partition(",")
                login = (row.get("SIS Login ID") or "").strip()
                out[sid] = Person(last.strip(), first.strip(), login if "@" in login else "")
            else:
                first, _, last = (row.get("Full name") or "").strip().rpartition(" ")
                out[sid] = Person(last.strip(), first.strip(), (row.get("Email address") or "").strip())
        return out


def moodle_id(identifier: str) -> str:
    """``"Participant 2001"`` -> ``"2001"`` (any language: the trailing number)."""
    m = re.search(r"(\d+)\s*$", identifier or "")
    return m.group(1) if m else (identifier or "").strip()


def _read(path: str | os.PathLike[str], what: str, required: tuple[str, ...]) -> tuple[list[str], list[dict[str, str]], bool]:
    raw = pathlib.Path(path).read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = list(reader.fieldnames or [])
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(f"roster {path} is not {what}: no column {', '.join(missing)} (columns: {', '.join(columns[:8])})")
    return columns, [dict(r) for r in reader], bom


def read_canvas(path: str | os.PathLike[str]) -> Template:
    """Canvas's gradebook export (Grades -> Export -> CSV).

    Rows whose ``Student`` is ``Points Possible`` (and the mute/read-only rows of
    older exports, which have no ``ID``) are kept apart as meta rows.

    Raises:
        ValueError: the file lacks ``Student`` or ``ID``.
    """
    columns, rows, bom = _read(path, "a Canvas gradebook CSV", CANVAS_REQUIRED)
    students = [r for r in rows if (r.get("ID") or "").strip()]
    meta = [r for r in rows if not (r.get("ID") or "").strip()]
    return Template("canvas", columns, students, meta, bom)


def read_moodle(path: str | os.PathLike[str]) -> Template:
    """Moodle's grading worksheet (Assignment -> View all submissions -> Download grading worksheet).

    Raises:
        ValueError: the file lacks ``Identifier`` or ``Grade``.
    """
    columns, rows, bom = _read(path, "a Moodle grading worksheet", MOODLE_REQUIRED)
    return Template("moodle", columns, rows, [], bom)


def read_roster(path: str | os.PathLike[str]) -> Template:
    """A Canvas gradebook CSV or a Moodle grading worksheet, told apart by their required columns.

    Raises:
        ValueError: the file is neither.
    """
    with open(path, encoding="utf-8-sig", newline="") as f:
        columns = next(csv.reader(f), [])
    if all(c in columns for c in CANVAS_REQUIRED):
        return read_canvas(path)
    if all(c in columns for c in MOODLE_REQUIRED):
        return read_moodle(path)
    raise ValueError(f"roster {path} is neither a Canvas gradebook CSV (columns {', '.join(CANVAS_REQUIRED)}) nor a "
                     f"Moodle grading worksheet (columns {', '.join(MOODLE_REQUIRED)}); its columns: {', '.join(columns[:8])}")


def canvas_columns(template: Template) -> dict[str, str]:
    """Canvas's assignment columns: header -> its title (``"ps01_penalties (123)"`` -> ``"ps01_penalties"``)."""
    fixed = {"Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Integration ID", "Root Account"}
    out = {}
    for c in template.columns:
        m = re.match(r"^(?P<title>.+?)\s*\((?P<id>\d+)\)$", c)
        if c not in fixed and m:
            out[c] = m["title"]
    return out


def write_template(template: Template, to: str | os.PathLike[str]) -> pathlib.Path:
    """Write the (filled) template with its columns in order, meta rows where Canvas puts them (first)."""
    target = pathlib.Path(to)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8-sig" if template.bom else "utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=template.columns, extrasaction="ignore")
        writer.writeheader()
        for row in template.meta_rows + template.rows:
            writer.writerow(row)
    return target
