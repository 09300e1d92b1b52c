"""The inventory as a spreadsheet: CSV and XLSX in, CSV and XLSX out, one system per row.

Cells hold plain text; lists use ';' between items:

    maintenance_windows  "sat 22:00-06:00; sun 00:00-04:00"
    blackout_periods     "2027-03-01..2027-05-31 tax season; 2027-10-01..2027-10-07"
    depends_on           "crm:same_wave; hr-db:before; mail"  (a code alone: not_after)
    tags                 "vmware; finance"

Parsing never raises on bad content: every problem becomes a ``RowProblem`` naming the spreadsheet row
(the header is row 1) and the column, so that the whole file can be reported at once.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from pydantic import ValidationError

from cloudsvc.migration.schemas import RowProblem, SystemIn
from cloudsvc.migration.vocabulary import Coupling

COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "department",
    "classification",
    "mlps_level",
    "current_location",
    "vcpus",
    "ram_mb",
    "storage_gb",
    "bandwidth_mbps",
    "criticality",
    "cutover_hours",
    "maintenance_windows",
    "blackout_periods",
    "strategy",
    "depends_on",
    "tags",
)
REQUIRED = frozenset(COLUMNS) - {"maintenance_windows", "blackout_periods", "strategy", "depends_on", "tags"}
_FIELD_TO_COLUMN = {"department_code": "department", "dependencies": "depends_on"}
_INTS = ("mlps_level", "vcpus", "ram_mb", "storage_gb", "bandwidth_mbps")
_WINDOW = re.compile(r"^(?P<weekday>[a-z]{3})\s+(?P<start>\d\d:\d\d)\s*-\s*(?P<end>\d\d:\d\d)$")
_PERIOD = re.compile(r"^(?P<start>\d{4}-\d\d-\d\d)\s*\.\.\s*(?P<end>\d{4}-\d\d-\d\d)(?:\s+(?P<reason>.+))?$")
DEFAULT_COUPLING = Coupling.not_after

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UnreadableFile(Exception):
    """The upload is not a CSV or XLSX table at all (a single problem, not one per row)."""


@dataclass(frozen=True)
class ParsedRow:
    row: int
    system: SystemIn | None  # None when the row has problems


def _items(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(";") if item.strip()]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return str(value.isoformat())[:10]
    return str(value).strip()


def read_table(data: bytes, media_type: str) -> list[dict[str, str]]:
    """Rows of the first sheet (or the CSV) as {column: text}; header names are matched case-insensitively."""
    if media_type == XLSX_TYPE or (media_type != CSV_TYPE and zipfile.is_zipfile(io.BytesIO(data))):
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged workbook; all mean "unreadable"
            raise UnreadableFile(f"not a readable XLSX workbook ({type(exc).__name__})") from exc
        sheet = book.worksheets[0]
        table = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableFile("CSV must be UTF-8") from exc
        try:
            table = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
        except csv.Error as exc:
            raise UnreadableFile(f"not a readable CSV table ({exc})") from exc
    if not table or not any(table[0]):
        raise UnreadableFile("the file has no header row")
    header = [h.strip().lower() for h in table[0]]
    missing = sorted(REQUIRED - set(header))
    if missing:
        raise UnreadableFile(f"missing columns: {', '.join(missing)}")
    rows = []
    for cells in table[1:]:
        cells = cells + [""] * (len(header) - len(cells))
        rows.append({name: cells[i] for i, name in enumerate(header) if name in COLUMNS})
    return rows


def _structured(cells: dict[str, str], problems: list[tuple[str, str]]) -> dict[str, Any]:
    """The row as SystemIn's input; cells that cannot even be split up add a problem and are left out."""
    data: dict[str, Any] = {
        "code": cells.get("code", ""),
        "name": cells.get("name", ""),
        "department_code": cells.get("department", ""),
        "classification": cells.get("classification", ""),
        "current_location": cells.get("current_location", ""),
        "criticality": cells.get("criticality", ""),
    }
    for column in _INTS:
        text = cells.get(column, "")
        try:
            data[column] = int(text)
        except ValueError:
            problems.append((column, f"must be a whole number, not {text!r}"))
    try:
        data["cutover_hours"] = float(cells.get("cutover_hours", ""))
    except ValueError:
        problems.append(("cutover_hours", f"must be a number of hours, not {cells.get('cutover_hours')!r}"))
    if cells.get("strategy"):
        data["strategy"] = cells["strategy"].lower()
    windows = []
    for item in _items(cells.get("maintenance_windows", "")):
        match = _WINDOW.match(item.lower())
        if match is None:
            problems.append(("maintenance_windows", f"{item!r} is not like 'sat 22:00-06:00'"))
        else:
            windows.append(match.groupdict())
    data["maintenance_windows"] = windows
    periods = []
    for item in _items(cells.get("blackout_periods", "")):
        match = _PERIOD.match(item)
        if match is None:
            problems.append(("blackout_periods", f"{item!r} is not like '2027-03-01..2027-05-31 reason'"))
        else:
            periods.append({k: v for k, v in match.groupdict().items() if v is not None})
    data["blackout_periods"] = periods
    dependencies = []
    for item in _items(cells.get("depends_on", "")):
        code, _, coupling = item.partition(":")
        dependencies.append({"code": code.strip(), "coupling": coupling.strip().lower() or DEFAULT_COUPLING})
    data["dependencies"] = dependencies
    data["tags"] = _items(cells.get("tags", ""))
    return data


def _column_of(loc: Sequence[int | str]) -> str:
    if not loc:
        return "row"
    head = str(loc[0])
    return _FIELD_TO_COLUMN.get(head, head)


def parse_rows(rows: Sequence[dict[str, str]]) -> tuple[list[ParsedRow], list[RowProblem]]:
    """Validate each row on its own (cross-row checks are the importer's)."""
    parsed: list[ParsedRow] = []
    problems: list[RowProblem] = []
    for offset, cells in enumerate(rows):
        number = offset + 2
        if not any(cells.values()):
            continue  # blank lines at the end of a sheet are common and harmless
        found: list[tuple[str, str]] = []
        data = _structured(cells, found)
        system = None
        try:
            system = SystemIn.model_validate(data, strict=False)
        except ValidationError as exc:
            seen = {column for column, _ in found}
            for error in exc.errors():
                column = _column_of(error["loc"])
                if column not in seen:  # a cell that failed to split is reported once, by that failure
                    found.append((column, error["msg"]))
        if found:
            problems.extend(RowProblem(row=number, column=c, problem=p) for c, p in found)
            system = None
        parsed.append(ParsedRow(row=number, system=system))
    return parsed, problems


def _cells(system: dict[str, Any]) -> list[Any]:
    windows = "; ".join(f"{w['weekday']} {w['start']}-{w['end']}" for w in system["maintenance_windows"])
    periods = "; ".join(
        f"{p['start']}..{p['end']}" + (f" {p['reason']}" if p.get("reason") else "")
        for p in system["blackout_periods"]
    )
    depends = "; ".join(f"{d['code']}:{d['coupling']}" for d in system["dependencies"])
    return [
        system["code"],
        system["name"],
        system["department_code"],
        system["classification"],
        system["mlps_level"],
        system["current_location"],
        system["vcpus"],
        system["ram_mb"],
        system["storage_gb"],
        system["bandwidth_mbps"],
        system["criticality"],
        system["cutover_hours"],
        windows,
        periods,
        system["strategy"] or "",
        depends,
        "; ".join(system["tags"]),
    ]


def write_csv(systems: Iterable[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for system in systems:
        writer.writerow(_cells(system))
    return out.getvalue().encode("utf-8")


def write_xlsx(systems: Iterable[dict[str, Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("systems")
    sheet.append(list(COLUMNS))
    for system in systems:
        sheet.append(_cells(system))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
