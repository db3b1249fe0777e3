"""The resume bookkeeping of `cqmetric score`: a progress sidecar, a lock, and rows an earlier output can give.

`cqmetric score` processes fixed chunks of input rows and, after each chunk, appends that chunk's finished rows to
a sidecar file next to the output (`OUT.progress.jsonl`) and flushes and fsyncs it. Each sidecar record carries
the row index, a hash of the input row, the score signature and the chunking settings; a restarted run keeps only
the chunks whose records all match and skips them. A torn last line (a run killed mid-write) is ignored. A lock
(`.OUT.lock`) keeps two runs from writing one output; an earlier output without a sidecar gives the rows that
match the input and the settings (`reusable_rows`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cqmetric.errors import InputValidationError
from cqmetric.io import (
    Table,
    _csv_text,
    _file_mode,
    file_format,
    read_table,
)
from cqmetric.serialization import jsonable

__all__ = ["PROGRESS_SUFFIX", "ProgressFile", "OutputLock", "progress_path", "reusable_rows", "row_hash"]

PROGRESS_SUFFIX = ".progress.jsonl"
_PROGRESS_VERSION = 1


def row_hash(row: Mapping[str, Any], *fields: str | None) -> str:
    """A short sha256 of a row and the field names that were read from it (16 hex digits).

    Args:
        row: the input row.
        *fields: the options that select what is scored (text field, constraint field).

    Returns:
        The hash; it changes when the row or the selected fields change.

    Examples:
        >>> row_hash({"text": "a"}, "text", None) == row_hash({"text": "a"}, "text", None)
        True
        >>> row_hash({"text": "a"}, "text", None) == row_hash({"text": "b"}, "text", None)
        False
    """
    payload = json.dumps({"row": row, "fields": list(fields)}, sort_keys=True, ensure_ascii=False,
                         separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


class OutputLock:
    """An exclusive lock on an output (`.OUT.lock` beside it), held while one run writes it.

    A second run on the same output fails at once with a clear error instead of both writing it.
    """

    def __init__(self, path: str | os.PathLike[str], *, where: str = "cqmetric") -> None:
        path = Path(path)
        self.path = path.with_name(f".{path.name}.lock")
        self.output = path
        self.where = where
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise InputValidationError(
                f"{self.where}: another run is writing {str(self.output)!r} (it holds {str(self.path)!r}); wait for "
                "it to finish or choose another output."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def reusable_rows(path: Path, table: Table, signature: str, chunk_size: int, *, added: Sequence[str],
                  nullable: Sequence[str] = (), where: str = "cqmetric") -> dict[int, dict[str, Any]]:
    """Rows of an existing output that a resumed run can keep: same input row, same signature, whole chunks.

    Used by `--resume` when no progress file exists (an output cut off by a copy, or a finished run resumed
    with more rows). A row counts only when every input field is unchanged (compared as the output's format
    writes it: a CSV cell is text) and its signature matches, and every added field has a value, except those
    `nullable` (empty by design, such as calibrated surprise without constraints).
    """
    try:
        old = read_table(path, where=where)
    except InputValidationError:
        return {}
    as_written = (lambda v: _csv_text(v)) if file_format(path, where=where) == "csv" else (lambda v: v)  # noqa: E731
    found: dict[int, dict[str, Any]] = {}
    for i, row in enumerate(old.rows[: len(table)]):
        source = table.rows[i]
        same_input = all(k in row and as_written(row[k]) == as_written(v) for k, v in source.items())
        filled = all(row.get(k) not in (None, "") for k in added if k not in nullable)
        if same_input and row.get("signature") == signature and filled:
            found[i] = {k: (None if row.get(k) == "" else row.get(k)) for k in added}
    complete: dict[int, dict[str, Any]] = {}
    for start in range(0, len(table), chunk_size):
        rows = range(start, min(start + chunk_size, len(table)))
        if all(r in found for r in rows):
            complete.update((r, found[r]) for r in rows)
    return complete


def progress_path(output: str | os.PathLike[str]) -> Path:
    """The sidecar progress file of an output: `OUT.progress.jsonl` in the same folder."""
    output = Path(output)
    return output.with_name(output.name + PROGRESS_SUFFIX)


class ProgressFile:
    """The sidecar file that makes `cqmetric score --resume` exact.

    Records are JSON lines `{"v", "key", "row", "input", "result"}` where `key` holds the score signature and
    the chunking settings, `row` the input row index and `input` the row's hash. Chunks are appended whole,
    then flushed and fsynced.

    Args:
        path: the sidecar file.
        key: the settings that must match for a record to be reused (signature, chunk size, ...).
        chunk_size: rows per chunk.
    """

    def __init__(self, path: str | os.PathLike[str], key: Mapping[str, Any], chunk_size: int) -> None:
        self.path = Path(path)
        self.key = dict(key)
        self.chunk_size = chunk_size
        self._fh: Any = None

    def load(self, hashes: Sequence[str]) -> dict[int, dict[str, Any]]:
        """Results of the complete chunks recorded under the same key for the same input rows.

        Lines that do not parse (a torn last line) and records of another key, another input row, or an
        incomplete chunk are ignored.

        Args:
            hashes: the current input's row hashes.

        Returns:
            Row index -> result, for every row of every reusable chunk.
        """
        found: dict[int, dict[str, Any]] = {}
        try:
            with self.path.open(encoding="utf-8") as fh:
                lines = fh.read().split("\n")
        except (OSError, UnicodeDecodeError):
            return {}
        for line in lines:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not (isinstance(rec, dict) and rec.get("v") == _PROGRESS_VERSION and rec.get("key") == self.key):
                continue
            row = rec.get("row")
            if (isinstance(row, int) and 0 <= row < len(hashes) and rec.get("input") == hashes[row]
                    and isinstance(rec.get("result"), dict)):
                found[row] = rec["result"]
        complete: dict[int, dict[str, Any]] = {}
        n = len(hashes)
        for start in range(0, n, self.chunk_size):
            rows = range(start, min(start + self.chunk_size, n))
            if all(r in found for r in rows):
                complete.update((r, found[r]) for r in rows)
        return complete

    def start(self, hashes: Sequence[str], kept: Mapping[int, Mapping[str, Any]]) -> None:
        """Rewrite the sidecar with only `kept` (atomically) and open it for appending."""
        self.close()
        folder = self.path.parent if str(self.path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            os.fchmod(fd, _file_mode(self.path))
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for row in sorted(kept):
                    fh.write(self._line(row, hashes[row], kept[row]))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._fh = self.path.open("a", encoding="utf-8")

    def append(self, rows: Sequence[int], hashes: Sequence[str], results: Sequence[Mapping[str, Any]]) -> None:
        """Append one finished chunk, then flush and fsync."""
        self._fh.write("".join(self._line(r, hashes[r], res) for r, res in zip(rows, results)))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _line(self, row: int, digest: str, result: Mapping[str, Any]) -> str:
        rec = {"v": _PROGRESS_VERSION, "key": self.key, "row": row, "input": digest,
               "result": jsonable(result)}
        return json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n"

    def close(self) -> None:
        """Close the file if it is open."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        """Close and delete the sidecar (after the output is complete)."""
        self.close()
        self.path.unlink(missing_ok=True)
