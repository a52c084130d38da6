"""Reader for the canonical event files (docs/data.md): the same rows the daily job reads.

Layout under ``root`` (a directory)::

    events/dt=YYYY-MM-DD/*.parquet   user_id, item_id, action, surface, ts, duration_ms
    items/*.parquet                  item_id, vector (fixed width float32)

Validation follows src/events/validate.ts rule for rule and in the same order; the first failing
rule gives a row its quarantine reason. Files that cannot be read at all raise ``DataError``.

Public API (stable; the training code imports it):
    read_events(root, start=None, end=None, now_ms=None) -> pyarrow.Table        valid rows only
    read_events_with_report(root, start=None, end=None, now_ms=None) -> (Table, QuarantineReport)
    quarantine_report(root, start=None, end=None, now_ms=None) -> QuarantineReport
    read_event_day(root, date, now_ms=None) -> (Table, QuarantineReport)
    list_event_days(root) -> list[str]                       days with at least one data file
    list_event_day(root, date) -> DayListing                 data files, ignored files (why), marker
    read_items(root) -> (item_ids: list[str], vectors: np.ndarray float32 [N, E])
    positive_mask(table) -> np.ndarray[bool]                 save, or click/closeup >= 10 s
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ACTIONS = ("view", "closeup", "click", "save", "hide")
SURFACES = ("home", "search", "related", "profile")
EVENT_COLUMNS = ("user_id", "item_id", "action", "surface", "ts", "duration_ms")
REQUIRED_COLUMNS = ("user_id", "item_id", "action", "ts")
QUARANTINE_REASONS = (
    "wrong_column_type",
    "missing_user_id",
    "missing_item_id",
    "unknown_action",
    "missing_ts",
    "ts_outside_day",
    "ts_in_future",
    "negative_duration",
    "absurd_duration",
    "duplicate_row",
)
DAY_MS = 86_400_000
MAX_DURATION_MS = 86_400_000
POSITIVE_MIN_DURATION_MS = 10_000

EVENT_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("action", pa.string()),
        ("surface", pa.string()),
        ("ts", pa.int64()),
        ("duration_ms", pa.int32()),
    ]
)

_DAY_DIR = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


class DataError(ValueError):
    """A whole file is unusable. ``reason``: unreadable_file | missing_column | invalid_input."""

    def __init__(self, reason: str, message: str, file: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.file = file


@dataclass
class QuarantineReport:
    """Counts of what was read: rows and valid rows per day, quarantined rows per reason."""

    counts: dict[str, int] = field(default_factory=dict)
    rows_by_day: dict[str, int] = field(default_factory=dict)
    valid_by_day: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (key, reason): in a day folder, not read

    @property
    def quarantined(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: "QuarantineReport") -> None:
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        self.rows_by_day.update(other.rows_by_day)
        self.valid_by_day.update(other.valid_by_day)
        self.files.extend(other.files)
        self.ignored.extend(other.ignored)


def day_start_ms(date: str) -> int:
    d = _dt.date.fromisoformat(date)
    return int(_dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc).timestamp()) * 1000


COMPLETION_MARKER = "_SUCCESS"
_STORE_TEMP_PREFIX = ".pf-tmp-"  # src/storage/keys.ts TEMP_PREFIX
_IN_PROGRESS = re.compile(r"\.(inprogress|tmp|_copying_)$", re.IGNORECASE)
_DAY_KEY = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})/(.+)$")


def classify_day_file_name(name: str) -> str:
    """``data``, ``marker`` or the reason a name in a day folder is ignored (docs/data.md).

    Same rules as src/events/day-files.ts: hidden, in_progress, not_parquet, subfolder.
    """
    if "/" in name:
        return "subfolder"
    if name == COMPLETION_MARKER:
        return "marker"
    if _IN_PROGRESS.search(name):
        return "in_progress"
    if name.startswith(".") or name.startswith("_"):
        return "hidden"
    return "data" if name.lower().endswith(".parquet") else "not_parquet"


@dataclass
class DayListing:
    """One day folder: data files (full paths, key order), ignored keys with reasons, marker."""

    date: str
    files: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    marker: bool = False


def _real_day(date: str) -> bool:
    try:
        _dt.date.fromisoformat(date)
        return True
    except ValueError:
        return False


def list_events(root: str) -> tuple[dict[str, DayListing], list[tuple[str, str]]]:
    """Every object under ``events/``: day listings by date, and keys outside any day folder.

    Keys are '/'-separated relative to ``root`` (as the TypeScript store lists them).
    """
    base = os.path.join(root, "events")
    keys: list[str] = []
    for folder, _dirs, names in os.walk(base):
        rel = os.path.relpath(folder, base).replace(os.sep, "/")
        # The TypeScript local store's own temporary files are never listed.
        keys.extend(n if rel == "." else f"{rel}/{n}" for n in names if not n.startswith(_STORE_TEMP_PREFIX))
    days: dict[str, DayListing] = {}
    outside: list[tuple[str, str]] = []
    for key in sorted(keys, key=lambda k: k.encode("utf-8")):
        m = _DAY_KEY.match(key)
        if not m or not _real_day(m.group(1)):
            outside.append((f"events/{key}", "not_a_day_folder"))
            continue
        day = days.setdefault(m.group(1), DayListing(m.group(1)))
        kind = classify_day_file_name(m.group(2))
        if kind == "data":
            day.files.append(os.path.join(base, *key.split("/")))
        elif kind == "marker":
            day.marker = True
        else:
            day.ignored.append((f"events/{key}", kind))
    return dict(sorted(days.items())), outside


def list_event_day(root: str, date: str) -> DayListing:
    return list_events(root)[0].get(date, DayListing(date))


def list_event_days(root: str) -> list[str]:
    """Days whose ``events/dt=.../`` folder holds at least one data file, sorted."""
    return [date for date, day in list_events(root)[0].items() if day.files]


def _read_parquet(path: str) -> pa.Table:
    try:
        return pq.read_table(path)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for broken files
        raise DataError("unreadable_file", f"unreadable parquet file {path}: {error}", path) from error


def _is_utf8(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _accepted(name: str, t: pa.DataType) -> bool:
    if name in ("user_id", "item_id", "action", "surface"):
        return _is_utf8(t)
    if name == "ts":
        return pa.types.is_integer(t) or (pa.types.is_timestamp(t) and t.unit == "ms")
    if name == "duration_ms":
        return pa.types.is_integer(t)
    return True


def _null_mask(col: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(col.is_null(), dtype=bool)


def _blank_mask(col: pa.ChunkedArray, wrong: bool) -> np.ndarray:
    """Null, or (for a string column) whitespace-only."""
    nulls = _null_mask(col)
    if wrong:
        return nulls
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    blank = pc.equal(pc.utf8_trim_whitespace(col), "").fill_null(True)
    return nulls | np.asarray(blank, dtype=bool)


def _as_string(col: pa.ChunkedArray, wrong: bool, n: int) -> pa.ChunkedArray:
    if wrong:
        return pa.chunked_array([pa.nulls(n, pa.string())])
    return col.cast(pa.string())


def _as_int(col: pa.ChunkedArray, wrong: bool, n: int) -> np.ndarray:
    """int64 values (0 where null or wrong type; callers mask those)."""
    if wrong:
        return np.zeros(n, dtype=np.int64)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    return np.asarray(col.cast(pa.int64(), safe=False).fill_null(0), dtype=np.int64)


def _validate_file(path: str, date: str, now_ms: int) -> tuple[pa.Table, np.ndarray]:
    """Rows of one file in canonical columns plus a reason code per row (-1 = valid so far)."""
    table = _read_parquet(path)
    names = set(table.column_names)
    for name in REQUIRED_COLUMNS:
        if name not in names:
            raise DataError("missing_column", f"event file {path} has no {name} column", path)
    n = table.num_rows
    cols: dict[str, pa.ChunkedArray | None] = {
        name: table.column(name) if name in names else None for name in EVENT_COLUMNS
    }
    wrong = {name: col is not None and not _accepted(name, col.type) for name, col in cols.items()}
    reason = np.full(n, -1, dtype=np.int16)

    def assign(mask: np.ndarray, code: str) -> None:
        reason[(reason == -1) & mask] = QUARANTINE_REASONS.index(code)

    for name, col in cols.items():
        if col is not None and wrong[name]:
            assign(~_null_mask(col), "wrong_column_type")
    assign(_blank_mask(cols["user_id"], wrong["user_id"]), "missing_user_id")
    assign(_blank_mask(cols["item_id"], wrong["item_id"]), "missing_item_id")
    action = _as_string(cols["action"], wrong["action"], n)
    known = np.asarray(pc.is_in(action, value_set=pa.array(ACTIONS)).fill_null(False), dtype=bool)
    assign(~known, "unknown_action")
    ts_col = cols["ts"]
    assign(_null_mask(ts_col), "missing_ts")
    ts = _as_int(ts_col, wrong["ts"], n)
    start = day_start_ms(date)
    assign((ts < start) | (ts >= start + DAY_MS), "ts_outside_day")
    assign(ts > now_ms, "ts_in_future")
    dur_col = cols["duration_ms"]
    if dur_col is None:
        dur_null = np.ones(n, dtype=bool)
        dur = np.zeros(n, dtype=np.int64)
    else:
        dur_null = _null_mask(dur_col) | wrong["duration_ms"]
        dur = _as_int(dur_col, wrong["duration_ms"], n)
    assign(~dur_null & (dur < 0), "negative_duration")
    assign(~dur_null & (dur > MAX_DURATION_MS), "absurd_duration")

    surface_col = cols["surface"]
    if surface_col is None or wrong["surface"]:
        surface = pa.nulls(n, pa.string())
    else:
        surface = surface_col.cast(pa.string())
        surface = pc.if_else(_blank_mask(surface_col, False), pa.scalar(None, pa.string()), surface)
    ok = reason == -1
    duration = pa.array(np.where(ok & ~dur_null, dur, 0).astype(np.int32), mask=dur_null, type=pa.int32())
    canonical = pa.table(
        {
            "user_id": _as_string(cols["user_id"], wrong["user_id"], n),
            "item_id": _as_string(cols["item_id"], wrong["item_id"], n),
            "action": action,
            "surface": surface,
            "ts": pa.array(ts, pa.int64()),
            "duration_ms": duration,
        },
        schema=EVENT_SCHEMA,
    )
    return canonical, reason


def read_event_day(root: str, date: str, now_ms: int | None = None) -> tuple[pa.Table, QuarantineReport]:
    """Valid rows of one day (files in name order, rows in file order) and what was quarantined.

    Duplicates (same user_id, item_id, action, surface, ts) are detected across the day's files;
    the first occurrence is kept.
    """
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    report = QuarantineReport()
    valid_parts: list[pa.Table] = []
    rows = 0
    listing = list_event_day(root, date)
    report.ignored.extend(listing.ignored)
    for path in listing.files:
        table, reason = _validate_file(path, date, now)
        rows += table.num_rows
        report.files.append(path)
        for code, count in zip(*np.unique(reason[reason >= 0], return_counts=True)):
            name = QUARANTINE_REASONS[int(code)]
            report.counts[name] = report.counts.get(name, 0) + int(count)
        valid_parts.append(table.filter(pa.array(reason == -1)))
    day = pa.concat_tables(valid_parts) if valid_parts else EVENT_SCHEMA.empty_table()
    if day.num_rows:
        indexed = day.append_column("__row", pa.array(np.arange(day.num_rows, dtype=np.int64)))
        keys = ["user_id", "item_id", "action", "surface", "ts"]
        first = indexed.group_by(keys, use_threads=False).aggregate([("__row", "min")]).column("__row_min")
        keep = np.zeros(day.num_rows, dtype=bool)
        keep[np.asarray(first, dtype=np.int64)] = True
        duplicates = int((~keep).sum())
        if duplicates:
            report.counts["duplicate_row"] = report.counts.get("duplicate_row", 0) + duplicates
            day = day.filter(pa.array(keep))
    report.rows_by_day[date] = rows
    report.valid_by_day[date] = day.num_rows
    return day, report


def _days_between(root: str, start: str | None, end: str | None) -> list[str]:
    return [d for d in list_event_days(root) if (start is None or d >= start) and (end is None or d <= end)]


def read_events_with_report(
    root: str, start: str | None = None, end: str | None = None, now_ms: int | None = None
) -> tuple[pa.Table, QuarantineReport]:
    """Valid events of the days in [start, end] (inclusive, YYYY-MM-DD; None = open), day order."""
    report = QuarantineReport()
    parts = []
    for date in _days_between(root, start, end):
        table, day_report = read_event_day(root, date, now_ms)
        parts.append(table)
        report.merge(day_report)
    return (pa.concat_tables(parts) if parts else EVENT_SCHEMA.empty_table()), report


def read_events(root: str, start: str | None = None, end: str | None = None, now_ms: int | None = None) -> pa.Table:
    """Valid events only: user_id, item_id, action, surface (nullable), ts (int64 ms), duration_ms (int32, nullable)."""
    return read_events_with_report(root, start, end, now_ms)[0]


def quarantine_report(
    root: str, start: str | None = None, end: str | None = None, now_ms: int | None = None
) -> QuarantineReport:
    return read_events_with_report(root, start, end, now_ms)[1]


def read_items(root: str) -> tuple[list[str], np.ndarray]:
    """All ``items/*.parquet`` (name order): item ids and their vectors, float32 [N, E]."""
    folder = os.path.join(root, "items")
    names = os.listdir(folder) if os.path.isdir(folder) else []
    files = sorted((f for f in names if classify_day_file_name(f) == "data"), key=lambda f: f.encode("utf-8"))
    ids: list[str] = []
    blocks: list[np.ndarray] = []
    for name in files:
        path = os.path.join(folder, name)
        table = _read_parquet(path)
        for column in ("item_id", "vector"):
            if column not in table.column_names:
                raise DataError("missing_column", f"item file {path} has no {column} column", path)
        vec = table.column("vector").combine_chunks()
        if vec.null_count:
            raise DataError("invalid_input", f"item file {path} has null vectors", path)
        if pa.types.is_fixed_size_list(vec.type):
            width = vec.type.list_size
        else:
            lengths = np.asarray(pc.list_value_length(vec))
            width = int(lengths[0]) if len(lengths) else 0
            if len(lengths) and not (lengths == width).all():
                raise DataError("invalid_input", f"item file {path} has vectors of different widths", path)
        values = np.asarray(vec.flatten(), dtype=np.float32)
        blocks.append(values.reshape(len(vec), width) if len(vec) else np.zeros((0, width), np.float32))
        ids.extend(table.column("item_id").to_pylist())
    if not blocks:
        return [], np.zeros((0, 0), dtype=np.float32)
    widths = {b.shape[1] for b in blocks if len(b)}
    if len(widths) > 1:
        raise DataError("invalid_input", f"item files disagree on vector width: {sorted(widths)}")
    return ids, np.concatenate(blocks, axis=0)


def positive_mask(table: pa.Table) -> np.ndarray:
    """The model's positives: a save, or a click/closeup of at least 10 s."""
    action = table.column("action")
    duration = np.asarray(table.column("duration_ms").fill_null(0), dtype=np.int64)
    save = np.asarray(pc.equal(action, "save").fill_null(False), dtype=bool)
    engaged = np.asarray(pc.is_in(action, value_set=pa.array(["click", "closeup"])).fill_null(False), dtype=bool)
    return save | (engaged & (duration >= POSITIVE_MIN_DURATION_MS))
