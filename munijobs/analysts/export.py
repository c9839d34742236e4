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

from sqlalchemy import Date, Engine, Float, Integer, Text, select, type_coerce

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


def _each_present(values, converted: list) -> list:
    """`converted` (one value per non-None value, in order) put back among the Nones of `values`."""
    if len(converted) == len(values):
        return converted
    following = iter(converted).__next__
    return [v if v is None else following() for v in values]


def _sqlite_timestamps(values) -> list | None:
    """timestamp_text of a column of SQLite's stored UTC texts ("2026-01-05 09:30:00.000000"), rewritten in a few
    passes over the whole column; None when the column holds anything else (then each value is converted alone)."""
    present = [v for v in values if v is not None]
    if not present or set(map(type, present)) != {str} or set(map(len, present)) != {26}:
        return None
    joined = "\0".join(present) + "\0"
    if not joined.count(" ") == joined.count(".") == len(present):
        return None
    iso = joined.replace(" ", "T").replace(".000000\0", "\0").replace("\0", "+00:00\0").split("\0")
    return _each_present(values, iso[:-1])


def canonical_column(kind: str) -> Callable[[tuple], list] | None:
    """Converter of one column of a chunk (a tuple of raw values) to canonical values; None when they already are.

    A million rows have millions of timestamps: a function call per cell would cost more than reading them."""
    if kind == "timestamp":
        return lambda values: _sqlite_timestamps(values) or [v if v is None else timestamp_text(v) for v in values]
    if kind == "date":
        return lambda values: [v if v is None or v.__class__ is str else v.isoformat() for v in values]
    if kind == "float":
        return lambda values: [int(v) if v.__class__ is float and v.is_integer() else v for v in values]
    return None


def _float_texts(values) -> list[str] | None:
    """CSV texts of a column of floats (whole ones as integers), in a few passes over the whole column; None when
    the column holds anything else or a value str() would not write plainly (exponent, nan, inf, -0.0)."""
    present = [v for v in values if v is not None]
    if set(map(type, present)) - {float}:
        return None
    joined = "\0" + "\0".join(map(str, present)) + "\0"
    if "e" in joined or "n" in joined or "-0.0\0" in joined:
        return None
    texts = joined.replace(".0\0", "\0").split("\0")[1:-1]
    return [v if v is not None else "" for v in _each_present(values, texts)]


def canonical_columns(columns: list[str]) -> Callable[[list], list]:
    """A function turning a chunk of raw result rows into its columns of canonical values: ISO texts for times,
    whole floats as ints."""
    converters = [canonical_column(column_kind(name)) for name in columns]

    def convert(rows: list) -> list:
        columns = zip(*rows, strict=True)
        return [values if f is None else f(values) for f, values in zip(converters, columns, strict=True)]
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


NONE = type(None)


def csv_column(delimiter: str) -> Callable[[list], list[str]]:
    """csv_field of every value of a column, with the common cases done without a function call per value: a column
    of texts none of which needs quotes, or of integers."""
    field = csv_field(delimiter)

    def texts(values: list) -> list[str]:
        types = set(map(type, values))
        if types <= {str, NONE}:
            whole = "\0".join(filter(None, values))
            if '"' in whole:
                return list(map(field, values))
            if delimiter in whole or "\n" in whole or "\r" in whole:
                return ["" if v is None else '"' + v + '"' if delimiter in v or "\n" in v or "\r" in v else v
                        for v in values]
            return [v or "" for v in values]
        if types <= {int, NONE}:
            return ["" if v is None else str(v) for v in values]
        return list(map(field, values))
    return texts


def _csv_texts(kind: str, delimiter: str) -> Callable[[tuple], list[str]]:
    """Raw column values -> CSV texts of their canonical values (the plain CSV, not Excel's)."""
    canonical, texts = canonical_column(kind), csv_column(delimiter)
    if kind == "float":
        return lambda values: _float_texts(values) or texts(canonical(values))
    if kind in ("timestamp", "date"):  # ISO texts never need quotes
        return lambda values: [v or "" for v in canonical(values)]
    return texts


class CsvWriter:
    """RFC 4180 CSV (comma, CRLF, header, UTF-8); Excel flavour: BOM, semicolons, Norwegian dates and numbers.

    A chunk is converted column by column (canonical values, Excel forms, CSV texts) and joined row by row in C."""

    def __init__(self, binary: IO[bytes], columns: list[str], excel: bool = False):
        self.text = io.TextIOWrapper(binary, encoding="utf-8-sig" if excel else "utf-8", newline="")
        self.delimiter = ";" if excel else ","
        kinds = [column_kind(name) for name in columns]
        if excel:
            texts, canonical = csv_column(self.delimiter), canonical_columns(columns)
            forms = [_excel_cell(name, kind) for name, kind in zip(columns, kinds, strict=True)]
            self.columns = lambda rows: [texts(values if f is None else [v if v is None else f(v) for v in values])
                                         for f, values in zip(forms, canonical(rows), strict=True)]
        else:
            converters = [_csv_texts(kind, self.delimiter) for kind in kinds]
            self.columns = lambda rows: [f(values) for f, values in zip(converters, zip(*rows, strict=True),
                                                                        strict=True)]
        self.single = len(columns) == 1
        self._write_lines([[name] for name in csv_column(self.delimiter)(list(columns))])

    def write(self, rows: list) -> None:
        if rows:
            self._write_lines(self.columns(rows))

    def _write_lines(self, columns: list[list[str]]) -> None:
        if self.single:  # a lone empty field must be quoted, or the line would be blank
            columns = [[v or '""' for v in columns[0]]]
        self.text.write("\r\n".join(map(self.delimiter.join, zip(*columns, strict=True))) + "\r\n")

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class JsonlWriter:
    """One JSON object per line (UTF-8, LF); dates and timestamps in ISO 8601, timestamps with their UTC offset."""

    def __init__(self, binary: IO[bytes], columns: list[str]):
        self.text = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
        self.columns = columns
        self.canonical = canonical_columns(columns)

    def write(self, rows: list) -> None:
        if not rows:
            return
        self.text.writelines(json.dumps(dict(zip(self.columns, row, strict=True)), ensure_ascii=False) + "\n"
                             for row in zip(*self.canonical(rows), strict=True))

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class ParquetWriter:
    """Parquet through pyarrow: dates date32, timestamps timestamp[us, UTC], int64, float64, strings; a row group
    per chunk. Raw values go to pyarrow as they are: SQLite's UTC texts are parsed by pyarrow's cast."""

    def __init__(self, binary: IO[bytes], columns: list[str]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(), "int": pa.int64(),
                 "float": pa.float64(), "text": pa.string()}
        self.pa = pa
        self.schema = pa.schema([(name, types[column_kind(name)]) for name in columns])
        self.writer = pq.ParquetWriter(pa.PythonFile(binary, mode="w"), self.schema, compression="zstd")

    def write(self, rows: list) -> None:
        if not rows:
            return
        columns = zip(*rows, strict=True)
        self.writer.write_batch(self.pa.RecordBatch.from_arrays(
            [self._array(values, field.type) for values, field in zip(columns, self.schema, strict=True)],
            schema=self.schema))

    def _array(self, values: tuple, arrow_type):
        pa = self.pa
        if not (pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type)) or str not in set(map(type, values)):
            return pa.array(values, arrow_type)
        texts = pa.array(values, pa.string())
        if pa.types.is_date(arrow_type) or "+" in "".join(filter(None, values)):
            return texts.cast(arrow_type)
        return texts.cast(pa.timestamp("us")).cast(arrow_type)  # SQLite's UTC texts have no offset

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


def ads_query(filters: AdFilters, columns: list[str], dialect: str):
    """SELECT of the columns from v_ads with the filters, in ad_id order (v_ads reads `ads` in id order, so the
    database sorts nothing and the first row comes at once); dates and timestamps come raw, as the driver gives them
    (SQLite: UTC text), and are made canonical by the writers, column by column (canonical_column)."""
    selected = [type_coerce(v_ads.c[name], Text).label(name) if column_kind(name) in ("timestamp", "date")
                else v_ads.c[name] for name in columns]
    return select(*selected).where(*where(filters, dialect)).order_by(v_ads.c.ad_id)


def export_ads(engine: Engine, target: str, fmt: str, filters: AdFilters, columns: list[str], excel: bool = False,
               progress: Progress | None = None) -> int:
    """Write the ads matching the filters to TARGET; returns the number of ads written."""
    prepare(engine)
    written = 0
    with atomic_output(target) as binary, engine.connect() as connection:
        query = ads_query(filters, columns, engine.dialect.name)
        writer = make_writer(fmt, binary, columns, excel=excel)
        result = connection.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(query)
        for rows in result.partitions():
            writer.write(rows)
            written += len(rows)
            if progress:
                progress.update(written)
        writer.close()
    return written
