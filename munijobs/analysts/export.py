"""Export v_ads to CSV, JSON Lines or Parquet in constant memory.

Rows are streamed from the database (server-side cursor on PostgreSQL) and written in chunks to a temporary file
next to the target, which is renamed over the target only when the export is complete.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Date, Engine, Float, Integer, Text, case, cast, func, select, type_coerce

from munijobs.analysts.filters import AdFilters, BadValue, where
from munijobs.analysts.views import prepare, v_ads
from storage.models import UTCDateTime

FORMATS = ("csv", "jsonl", "parquet")
CHUNK_ROWS = 5_000
CODE_COLUMNS = frozenset({"municipality_code", "county_code", "occupation_code", "employer_orgnr",
                          "employer_parent_orgnr"})
"""Codes with meaningful leading zeros, kept as text for Excel."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""Cell starts that make a spreadsheet evaluate a cell as a formula (CSV injection)."""


def column_kind(name: str) -> str:
    """timestamp, date, int, float or text: the type of a v_ads column."""
    column_type = v_ads.c[name].type
    if isinstance(column_type, UTCDateTime):
        return "timestamp"
    if isinstance(column_type, Date):
        return "date"
    if isinstance(column_type, Integer):
        return "int"
    return "float" if isinstance(column_type, Float) else "text"


def plain_value(value: Any) -> Any:
    """A value as CSV/JSON text or number: dates and timestamps ISO 8601, whole floats as integers."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def timestamp_text(value: str | datetime) -> str:
    """ISO 8601 in UTC with offset ("2026-01-05T09:30:00+00:00") of a timestamp as the database returns it:
    SQLite text in UTC ("2026-01-05 09:30:00.000000") or an aware datetime (PostgreSQL)."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            fraction = value[19:]
            return f"{value[:10]}T{value[11:19]}{'' if fraction == '.000000' else fraction}+00:00"
        value = datetime.fromisoformat(value)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat()


def date_text(value: str | date) -> str:
    """ISO 8601 day of a date as the database returns it (SQLite text, PostgreSQL date)."""
    return value if isinstance(value, str) else value.isoformat()


def number(value: float) -> float | int:
    return int(value) if value.is_integer() else value


CANONICAL = {"timestamp": timestamp_text, "date": date_text, "float": number}
"""Per column kind: raw database value -> the value every format starts from (None stays None)."""


def canonical_rows(columns: list[str], dialect: str | None = None) -> Callable[[list], list[list]]:
    """A function turning raw result rows into canonical rows: ISO texts for times, whole floats as ints (on SQLite
    ads_query has the database do it)."""
    done_in_sql = IN_SQLITE if dialect == "sqlite" else ()
    changes = [(n, CANONICAL[kind]) for n, name in enumerate(columns)
               if (kind := column_kind(name)) in CANONICAL and kind not in done_in_sql]
    if not changes:
        return lambda rows: list(map(list, rows))

    def convert(rows: list) -> list[list]:
        result = []
        for row in rows:
            row = list(row)
            for n, function in changes:
                if row[n] is not None:
                    row[n] = function(row[n])
            result.append(row)
        return result
    return convert


def _excel_cell(name: str, kind: str) -> Callable[[Any], Any] | None:
    """Converter of a canonical value for Norwegian Excel: dd.mm.yyyy dates, decimal comma, codes kept as text,
    text that Excel would run as a formula prefixed with an apostrophe."""
    if kind == "timestamp":
        return lambda v: f"{v[8:10]}.{v[5:7]}.{v[:4]} {v[11:16]}"
    if kind == "date":
        return lambda v: f"{v[8:10]}.{v[5:7]}.{v[:4]}"
    if kind == "float":
        return lambda v: str(v).replace(".", ",")
    if name in CODE_COLUMNS:
        return lambda v: f'="{v}"'
    if kind == "text":
        return lambda v: "'" + v if v.startswith(FORMULA_START) else v
    return None


def csv_field(delimiter: str) -> Callable[[Any], str]:
    """RFC 4180 text of one value: quoted only when it holds a quote, the delimiter, CR or LF (str methods are much
    faster than the csv module's per-character scan of long ad texts)."""
    def field(value: Any) -> str:
        if value is None:
            return ""
        if value.__class__ is str:
            if '"' in value:
                return '"' + value.replace('"', '""') + '"'
            if delimiter in value or "\n" in value or "\r" in value:
                return '"' + value + '"'
            return value
        return str(value)
    return field


class CsvWriter:
    """RFC 4180 CSV (comma, CRLF, header, UTF-8); Excel flavour: BOM, semicolons, Norwegian dates and numbers."""

    def __init__(self, binary: IO[bytes], columns: list[str], excel: bool = False):
        self.text = io.TextIOWrapper(binary, encoding="utf-8-sig" if excel else "utf-8", newline="")
        self.delimiter = ";" if excel else ","
        self.field = csv_field(self.delimiter)
        if len(columns) == 1:
            plain = self.field
            self.field = lambda value: plain(value) or '""'
        self.excel = []
        self.write([list(columns)])
        self.excel = [(n, f) for n, name in enumerate(columns) if excel and (f := _excel_cell(name, column_kind(name)))]

    def write(self, rows: list[list]) -> None:
        for row in rows if self.excel else ():
            for n, function in self.excel:
                if row[n] is not None:
                    row[n] = function(row[n])
        field, delimiter = self.field, self.delimiter
        self.text.write("".join([delimiter.join([field(v) for v in row]) + "\r\n" for row in rows]))

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class JsonlWriter:
    """One JSON object per line (UTF-8, LF); dates and timestamps in ISO 8601, timestamps with their UTC offset."""

    def __init__(self, binary: IO[bytes], columns: list[str]):
        self.text = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
        self.columns = columns

    def write(self, rows: list[list]) -> None:
        self.text.writelines(json.dumps(dict(zip(self.columns, row, strict=True)), ensure_ascii=False) + "\n"
                             for row in rows)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class ParquetWriter:
    """Parquet through pyarrow: dates date32, timestamps timestamp[us, UTC], int64, float64, strings; a row group
    per chunk."""

    def __init__(self, binary: IO[bytes], columns: list[str]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(), "int": pa.int64(),
                 "float": pa.float64(), "text": pa.string()}
        self.pa = pa
        self.schema = pa.schema([(name, types[column_kind(name)]) for name in columns])
        self.writer = pq.ParquetWriter(pa.PythonFile(binary, mode="w"), self.schema, compression="zstd")

    def write(self, rows: list[list]) -> None:
        pa = self.pa
        arrays = []
        for values, field in zip(zip(*rows, strict=True), self.schema, strict=True):
            parsed = pa.types.is_timestamp(field.type) or pa.types.is_date(field.type)
            arrays.append(pa.array(values, pa.string()).cast(field.type) if parsed else pa.array(values, field.type))
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def make_writer(fmt: str, binary: IO[bytes], columns: list[str], excel: bool = False):
    if fmt == "csv":
        return CsvWriter(binary, columns, excel=excel)
    if fmt == "jsonl":
        return JsonlWriter(binary, columns)
    return ParquetWriter(binary, columns)


class Progress:
    """Progress of a long export on stderr: a line rewritten in place on a terminal, else a line every 10 s."""

    def __init__(self, label: str, stream: IO[str] | None = None, quiet_for: float = 1.0):
        self.label, self.stream = label, stream or sys.stderr
        self.started = time.monotonic()
        self.tty = self.stream.isatty()
        self.next_at = self.started + quiet_for
        self.shown = False

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + (0.5 if self.tty else 10)
        end = "\r" if self.tty else "\n"
        self.stream.write(f"{self.label}: {done:,} ads, {now - self.started:.0f} s{end}")
        self.stream.flush()
        self.shown = True

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def finish(self, message: str) -> None:
        if self.tty and self.shown:
            self.stream.write("\r\033[K")
        self.stream.write(message + "\n")
        self.stream.flush()


@contextmanager
def atomic_output(target: str) -> Iterator[IO[bytes]]:
    """A binary stream for TARGET ('-' is stdout): a temporary file beside it, renamed over it on success and removed
    on any failure, including SIGTERM. A symlink is followed (the file it names is replaced, the link stays); a target
    that is not a regular file (a FIFO, a character device such as /dev/null) is written directly, never replaced.
    A target that cannot be written raises BadValue (one line, exit 2)."""
    if target == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(target).resolve()
    if path.exists() and not path.is_file():
        try:
            stream = open(path, "wb")  # noqa: SIM115 - closed below, after the caller is done
        except OSError as exc:
            raise BadValue(f"-o {target}: cannot write: {exc.strerror or exc}") from None
        with stream:
            yield stream
        return
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise BadValue(f"-o {target}: cannot write in {path.parent}: {exc.strerror or exc}") from None
    previous = signal.getsignal(signal.SIGTERM)
    in_main_thread = _main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _exit_on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)


IN_SQLITE = ("timestamp", "date", "float")
"""Column kinds whose canonical form SQLite computes itself in ads_query (per cell in C, not in Python)."""


def _sqlite_canonical(name: str):
    """The canonical value of a v_ads column computed by SQLite: timestamp_text's ISO form of its stored UTC text,
    whole floats as integers."""
    column, kind = v_ads.c[name], column_kind(name)
    if kind == "timestamp":
        raw = type_coerce(column, Text)
        fraction = func.substr(raw, 20)
        iso = (func.substr(raw, 1, 10) + "T" + func.substr(raw, 12, 8)
               + case((fraction == ".000000", ""), else_=fraction) + "+00:00")
        return case((func.length(raw) == 26, iso), else_=raw)
    if kind == "float":
        whole = cast(column, Integer)
        return case((column == whole, whole), else_=column)
    return type_coerce(column, Text) if kind == "date" else column


def ads_query(filters: AdFilters, columns: list[str], dialect: str):
    """SELECT of the columns from v_ads with the filters, in ad_id order (v_ads reads `ads` in id order, so the
    database sorts nothing and the first row comes at once); dates and timestamps come raw (see timestamp_text),
    which is much faster than parsing them on SQLite; there SQLite gives them canonical."""
    if dialect == "sqlite":
        selected = [_sqlite_canonical(name).label(name) for name in columns]
    else:
        selected = [type_coerce(v_ads.c[name], Text).label(name) if column_kind(name) in ("timestamp", "date")
                    else v_ads.c[name] for name in columns]
    query = select(*selected).where(*where(filters, dialect))
    return query.order_by(v_ads.c.ad_id)


def export_ads(engine: Engine, target: str, fmt: str, filters: AdFilters, columns: list[str], excel: bool = False,
               progress: Progress | None = None) -> int:
    """Write the ads matching the filters to TARGET; returns the number of ads written."""
    prepare(engine)
    written = 0
    with atomic_output(target) as binary, engine.connect() as connection:
        query = ads_query(filters, columns, engine.dialect.name)
        writer = make_writer(fmt, binary, columns, excel=excel)
        result = connection.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(query)
        canonical = canonical_rows(columns, engine.dialect.name)
        for rows in result.partitions():
            writer.write(canonical(rows))
            written += len(rows)
            if progress:
                progress.update(written)
        writer.close()
    return written
