"""Reading and writing row files (JSONL and CSV) for the command line (its resume bookkeeping: `cqmetric.resume`).

Everything here is plain Python (json, csv, hashlib): no model and no NumPy. Input errors raise
`InputValidationError` naming the file, the line and what was expected.

The format of a file is chosen by its extension: `.jsonl`/`.ndjson` (one JSON object per line) or `.csv`
(a header line, then one row per line; cells are strings).

Examples:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> path = folder / "in.jsonl"
    >>> _ = path.write_text('{"id": 1, "text": "A cat sat."}\\n\\n{"id": 2, "text": "A dog ran."}\\n')
    >>> table = read_table(path)
    >>> table.rows[1], table.lines
    ({'id': 2, 'text': 'A dog ran.'}, [1, 3])
    >>> write_table(folder / "out.csv", [{"id": 1, "score": 0.5}])
    >>> print((folder / "out.csv").read_text(), end="")
    id,score
    1,0.5
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cqmetric.errors import InputValidationError
from cqmetric.serialization import jsonable

__all__ = ["FORMATS", "Table", "file_format", "read_table", "column", "index_by", "write_table", "write_text",
           "check_output_path"]

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def file_format(path: str | os.PathLike[str], *, where: str = "cqmetric") -> str:
    """The format of `path` from its extension: "jsonl" or "csv".

    Args:
        path: the file name.
        where: the caller's name, for the error message.

    Returns:
        "jsonl" or "csv".

    Raises:
        InputValidationError: for any other extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputValidationError(
            f"{where}: expected a file ending in {', '.join(FORMATS)}, got {str(path)!r}."
        )
    return FORMATS[suffix]


@dataclass(frozen=True)
class Table:
    """The rows of an input file.

    Attributes:
        path: where they came from.
        rows: one dict per row, fields in file order (CSV cells are strings).
        lines: the 1-based line number of each row in the file (for error messages).
        fieldnames: every field name, in order of first appearance (the header for CSV).
    """

    path: Path
    rows: list[dict[str, Any]]
    lines: list[int]
    fieldnames: list[str]

    def __len__(self) -> int:
        return len(self.rows)

    def where(self, index: int) -> str:
        """`path:line` of row `index`."""
        return f"{self.path}:{self.lines[index]}"


def read_table(path: str | os.PathLike[str], *, where: str = "cqmetric") -> Table:
    """Read a JSONL or CSV file into rows.

    Args:
        path: the file; its extension picks the format.
        where: the caller's name, for error messages.

    Returns:
        The rows with their line numbers.

    Raises:
        InputValidationError: the file cannot be read, is empty, has a malformed line (the message gives its
            number) or a line that is not a JSON object.
    """
    path = Path(path)
    fmt = file_format(path, where=where)
    if path.is_dir():
        raise InputValidationError(f"{where}: expected a file, got the folder {str(path)!r}.")
    try:
        with path.open(encoding="utf-8-sig", newline="" if fmt == "csv" else None) as fh:
            table = _read_csv(fh, path, where) if fmt == "csv" else _read_jsonl(fh, path, where)
    except UnicodeDecodeError as exc:
        raise InputValidationError(f"{where}: {_decode_error(path, exc)}") from None
    except OSError as exc:
        raise InputValidationError(f"{where}: cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    if not table.rows:
        raise InputValidationError(f"{where}: expected at least one row in {str(path)!r}, got none.")
    return table


def _decode_error(path: Path, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 sits: line, column and the byte itself."""
    data = path.read_bytes()
    line = data.count(b"\n", 0, exc.start) + 1
    column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    return (f"{path}:{line}: expected UTF-8 text, got the byte 0x{data[exc.start]:02x} at column {column} "
            f"(byte {exc.start} of the file); re-save the file as UTF-8.")


def _read_jsonl(fh: Iterable[str], path: Path, where: str) -> Table:
    rows, lines, names = [], [], {}
    for number, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputValidationError(
                f"{where}: {path}:{number}: expected a JSON object, got malformed JSON ({exc.msg} at column "
                f"{exc.colno}): {line.strip()[:60]!r}."
            ) from None
        if not isinstance(row, dict):
            raise InputValidationError(
                f"{where}: {path}:{number}: expected a JSON object, got a JSON {type(row).__name__}."
            )
        rows.append(row)
        lines.append(number)
        names.update(dict.fromkeys(row))
    return Table(path, rows, lines, list(names))


def _read_csv(fh: Iterable[str], path: Path, where: str) -> Table:
    reader = csv.reader(fh, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return Table(path, [], [], [])
        if len(set(header)) != len(header) or not all(h.strip() for h in header):
            raise InputValidationError(
                f"{where}: {path}:1: expected a header of distinct, non-empty column names, got {header!r}."
            )
        rows, lines = [], []
        for cells in reader:
            if not cells or all(not c.strip() for c in cells) and len(cells) <= 1:
                continue
            if len(cells) != len(header):
                raise InputValidationError(
                    f"{where}: {path}:{reader.line_num}: expected {len(header)} fields (columns "
                    f"{', '.join(header)}), got {len(cells)}."
                )
            rows.append(dict(zip(header, cells)))
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise InputValidationError(f"{where}: {path}:{reader.line_num}: malformed CSV ({exc}).") from None
    return Table(path, rows, lines, list(header))


def column(
    table: Table,
    field: str,
    *,
    where: str = "cqmetric",
    option: str | None = None,
    kind: str = "text",
) -> list[Any]:
    """The values of `field` in every row, checked.

    Args:
        table: the rows.
        field: the field name.
        where: the caller's name, for error messages.
        option: the command-line option that named the field (mentioned in the message).
        kind: "text" (a non-empty string), "number" (a finite number; CSV strings are parsed), "rating" (a
            finite number, or null/empty for a missing one, read as NaN), "label" (any non-null value, as a
            string) or "any".

    Returns:
        One value per row.

    Raises:
        InputValidationError: a row lacks the field or holds the wrong kind of value; the message gives the
            file, the line and the fields that row has.
    """
    named = f"field {field!r}" + (f" (from {option})" if option else "")
    out = []
    for i, row in enumerate(table.rows):
        if field not in row:
            have = ", ".join(repr(k) for k in row) or "none"
            raise InputValidationError(
                f"{where}: {table.where(i)}: expected {named}, got a row without it (fields: {have})."
            )
        value = row[field]
        if kind == "text":
            if not isinstance(value, str) or not value.strip():
                raise InputValidationError(
                    f"{where}: {table.where(i)}: expected {named} to be a non-empty string, got {value!r:.60}."
                )
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InputValidationError(
                    f"{where}: {table.where(i)}: expected {named} to be valid Unicode, got a lone surrogate "
                    f"{value[exc.start]!r} at character {exc.start} (a \\ud800-\\udfff escape without its pair)."
                ) from None
        elif kind in ("number", "rating"):
            if kind == "rating" and (value is None or value == ""):
                value = math.nan
            else:
                value = _number(value)
            if value is None:
                extra = " (or empty for a missing rating)" if kind == "rating" else ""
                raise InputValidationError(
                    f"{where}: {table.where(i)}: expected {named} to be a finite number{extra}, got {row[field]!r:.60}."
                )
        elif kind == "label":
            if value is None or value == "" or isinstance(value, (dict, list)):
                raise InputValidationError(
                    f"{where}: {table.where(i)}: expected {named} to be a non-empty label, got {value!r:.60}."
                )
            value = str(value)
        out.append(value)
    return out


def index_by(table: Table, field: str, *, where: str = "cqmetric", option: str | None = None) -> dict[str, int]:
    """Map each row's `field` value (as a string) to its row index; every value must be unique.

    Raises:
        InputValidationError: a row lacks the field, or a value repeats (the message gives both lines).
    """
    out: dict[str, int] = {}
    for i, key in enumerate(column(table, field, where=where, option=option, kind="label")):
        if key in out:
            raise InputValidationError(
                f"{where}: {table.where(i)}: expected each {field!r} once, got {key!r} again "
                f"(first at line {table.lines[out[key]]})."
            )
        out[key] = i
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _csv_text(value: Any) -> str:
    """A value as a CSV cell of this module's writer reads back (text)."""
    cell = _cell(_json_safe(value))
    return cell if isinstance(cell, str) else str(cell)


def _json_safe(value: Any) -> Any:
    return jsonable(value)  # the package's one JSON policy: NaN and infinities as null


def write_table(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], *,
                fieldnames: Sequence[str] | None = None, where: str = "cqmetric") -> None:
    """Write rows to `path` atomically: into a temporary file in the same folder, then `os.replace`.

    An existing file at `path` is untouched until the new one is complete. Non-finite floats are written as
    JSON null (an empty CSV cell).

    Args:
        path: the destination; its extension picks the format.
        rows: the rows.
        fieldnames: CSV column order (default: every key in order of first appearance).
        where: the caller's name, for error messages.

    Raises:
        InputValidationError: the destination folder is not writable.
    """
    fmt = file_format(Path(path), where=where)
    buffer = io.StringIO()
    if fmt == "csv":
        names = list(fieldnames) if fieldnames is not None else list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(_json_safe(v)) for k, v in row.items()})
    else:
        for row in rows:
            clean = {k: _json_safe(v) for k, v in row.items()}
            buffer.write(json.dumps(clean, ensure_ascii=False, allow_nan=False) + "\n")
    write_text(path, buffer.getvalue(), where=where)


def write_text(path: str | os.PathLike[str], text: str, *, where: str = "cqmetric") -> None:
    """Write `text` to `path` atomically (temporary file in the same folder, then `os.replace`).

    Raises:
        InputValidationError: the destination folder is missing or not writable.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputValidationError(f"{where}: cannot write {str(path)!r}: {exc.strerror or exc}.") from None
    try:
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:  # written verbatim
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def _file_mode(path: Path) -> int:
    """The mode a new file at `path` gets: the existing file's, else what the umask allows (as `open` would)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def check_output_path(path: str | os.PathLike[str], *, inputs: Sequence[str | os.PathLike[str]] = (),
                      where: str = "cqmetric") -> None:
    """Raise before any work when `path` cannot be written: a folder, a missing or unwritable folder, an input.

    A file is created and removed in the destination folder, so a read-only disk or a missing permission is
    found now, not after hours of scoring.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputValidationError(f"{where}: cannot write {str(path)!r}: it is a folder; expected a file name.")
    if not folder.is_dir():
        raise InputValidationError(f"{where}: cannot write {str(path)!r}: no such folder {str(folder)!r}.")
    for source in inputs:
        if Path(source).exists() and path.exists() and Path(source).resolve() == path.resolve():
            raise InputValidationError(f"{where}: the output {str(path)!r} is the input file; choose another name.")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputValidationError(f"{where}: cannot write {str(path)!r}: the file is not writable.")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise InputValidationError(f"{where}: cannot write {str(path)!r}: {exc.strerror or exc}.") from None
    os.close(fd)
    os.unlink(probe)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
