"""The Python event reader applies the documented rules (docs/data.md) exactly like the TS reader."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pinnerformer.events import (
    QUARANTINE_REASONS,
    DataError,
    day_start_ms,
    list_event_days,
    positive_mask,
    quarantine_report,
    read_event_day,
    read_events,
    read_events_with_report,
    read_items,
)

DATE = "2026-03-10"
DAY = day_start_ms(DATE)
NOW = DAY + 12 * 3_600_000
RAW_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("action", pa.string()),
        ("surface", pa.string()),
        ("ts", pa.int64()),
        ("duration_ms", pa.int64()),
    ]
)
BASE = {"user_id": "u1", "item_id": "i1", "action": "view", "surface": "home", "ts": DAY + 5000, "duration_ms": 100}
BAD_ROWS = {
    "missing_user_id": {**BASE, "user_id": None},
    "missing_item_id": {**BASE, "item_id": "  "},
    "unknown_action": {**BASE, "action": "like"},
    "missing_ts": {**BASE, "ts": None},
    "ts_outside_day": {**BASE, "ts": DAY - 1},
    "ts_in_future": {**BASE, "ts": NOW + 1},
    "negative_duration": {**BASE, "duration_ms": -1},
    "absurd_duration": {**BASE, "duration_ms": 86_400_001},
    "duplicate_row": {**BASE, "duration_ms": 999},
}


def write_day(root, date, name, rows, schema=RAW_SCHEMA):
    folder = os.path.join(root, "events", f"dt={date}")
    os.makedirs(folder, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), os.path.join(folder, name))


def test_each_bad_row_gets_its_reason_and_good_rows_survive(tmp_path):
    # Prepare
    write_day(tmp_path, DATE, "a.parquet", [BASE, *BAD_ROWS.values(), {**BASE, "item_id": "i2", "surface": "", "ts": DAY}])
    # Act
    table, report = read_event_day(str(tmp_path), DATE, now_ms=NOW)
    # Assess
    assert report.counts == {reason: 1 for reason in BAD_ROWS}
    assert report.rows_by_day == {DATE: 11}
    assert table.to_pylist() == [
        {**BASE},
        {**BASE, "item_id": "i2", "surface": None, "ts": DAY},
    ]
    assert table.schema.field("duration_ms").type == pa.int32()


def test_wrongly_typed_columns_quarantine_non_null_values(tmp_path):
    # Prepare
    schema = pa.schema([("user_id", pa.int64()), ("item_id", pa.string()), ("action", pa.string()), ("ts", pa.int64()), ("duration_ms", pa.float64())])
    rows = [
        {"user_id": 7, "item_id": "i1", "action": "view", "ts": DAY, "duration_ms": None},
        {"user_id": None, "item_id": "i2", "action": "view", "ts": DAY, "duration_ms": None},
        {"user_id": 8, "item_id": "i3", "action": "save", "ts": DAY, "duration_ms": 1.5},
    ]
    write_day(tmp_path, DATE, "a.parquet", rows, schema)
    # Act
    report = quarantine_report(str(tmp_path), now_ms=NOW)
    # Assess
    assert report.counts == {"wrong_column_type": 2, "missing_user_id": 1}


def test_duplicates_are_found_across_the_files_of_a_day_and_days_filter(tmp_path):
    # Prepare
    write_day(tmp_path, DATE, "a.parquet", [BASE])
    write_day(tmp_path, DATE, "b.parquet", [{**BASE, "duration_ms": 5}, {**BASE, "surface": None}])
    write_day(tmp_path, "2026-03-11", "a.parquet", [{**BASE, "ts": DAY + 86_400_000}])
    # Act
    table, report = read_events_with_report(str(tmp_path), now_ms=DAY + 10 * 86_400_000)
    only_second = read_events(str(tmp_path), start="2026-03-11", now_ms=DAY + 10 * 86_400_000)
    # Assess
    assert list_event_days(str(tmp_path)) == [DATE, "2026-03-11"]
    assert report.counts == {"duplicate_row": 1}
    assert report.valid_by_day == {DATE: 2, "2026-03-11": 1}
    assert table.column("surface").to_pylist() == ["home", None, "home"]
    assert only_second.num_rows == 1


def test_unreadable_and_incomplete_files_raise_data_error(tmp_path):
    # Prepare
    write_day(tmp_path, DATE, "a.parquet", [BASE])
    path = os.path.join(tmp_path, "events", f"dt={DATE}", "a.parquet")
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    other = tmp_path / "other"
    write_day(other, DATE, "a.parquet", [{"user_id": "u1"}], pa.schema([("user_id", pa.string())]))
    # Act / Assess
    with pytest.raises(DataError) as truncated:
        read_events(str(tmp_path))
    assert truncated.value.reason == "unreadable_file"
    with pytest.raises(DataError) as missing:
        read_events(str(other))
    assert missing.value.reason == "missing_column"


def test_read_items_returns_ids_and_a_float32_matrix(tmp_path):
    # Prepare
    os.makedirs(tmp_path / "items")
    vec = pa.array([[1, 2, 3], [4, 5, 6]], pa.list_(pa.float32(), 3))
    pq.write_table(pa.table({"item_id": ["i1", "i2"], "vector": vec}), tmp_path / "items" / "a.parquet")
    pq.write_table(
        pa.table({"item_id": ["i3"], "vector": pa.array([[7, 8, 9]], pa.list_(pa.float32()))}), tmp_path / "items" / "b.parquet"
    )
    # Act
    ids, vectors = read_items(str(tmp_path))
    # Assess
    assert ids == ["i1", "i2", "i3"]
    assert vectors.dtype == np.float32 and vectors.shape == (3, 3)
    assert vectors[2].tolist() == [7, 8, 9]


def test_positive_mask_and_reason_list():
    table = pa.table(
        {
            "action": ["save", "click", "closeup", "click", "view"],
            "duration_ms": pa.array([None, 10_000, 9_999, None, 60_000], pa.int32()),
        }
    )
    assert positive_mask(table).tolist() == [True, True, False, False, False]
    assert QUARANTINE_REASONS[0] == "wrong_column_type" and QUARANTINE_REASONS[-1] == "duplicate_row"
