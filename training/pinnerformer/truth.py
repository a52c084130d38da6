"""Ground truth written by the synthetic generator (truth/items.parquet: item_id, topic, ...),
used for interest entropy. Real data sets have none."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def read_item_topics(root: Path) -> dict[str, int] | None:
    """item_id -> topic from the generator's truth files; None when the data set has none."""
    path = Path(root) / "truth" / "items.parquet"
    if not path.exists():
        return None
    table = pq.read_table(path, columns=["item_id", "topic"])
    return dict(zip(table["item_id"].to_pylist(), table["topic"].to_pylist()))
