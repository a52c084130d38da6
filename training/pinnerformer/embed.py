"""Embed users with PyTorch (not ONNX): the reference side of the cross-language test.

python -m pinnerformer.embed --model DIR --data ROOT --cutoff-ms T [--users a,b,c] --out FILE.json

Reads ROOT/events/dt=*/*.parquet and ROOT/items/*.parquet (training/pinnerformer/events.py),
builds each user's sequence from the events with ts < T per docs/model-interface.md, and writes
{"<userId>": [D floats], ...}. Without --users every user with an event before T is embedded;
a listed user with no event before T is left out (no embedding, as in the pipeline).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from .corpus import embed_sequences
from .events import read_events, read_items
from .export import load_model_dir
from .features import EventStore, ItemTable


def embed_users(model_dir: str | Path, data: str | Path, cutoff_ms: int, users: list[str] | None) -> dict[str, list[float]]:
    loaded = load_model_dir(model_dir)
    item_ids, vectors = read_items(Path(data))
    items = ItemTable(ids=list(item_ids), vectors=np.asarray(vectors, dtype=np.float32))
    if loaded.model.cfg.item_vector == 0:  # an id-only model ignores any item table
        items = ItemTable(ids=[], vectors=np.zeros((0, 0), np.float32))
    if items.dim != loaded.model.cfg.item_vector:
        raise ValueError(f"item vectors have {items.dim} dims, the model expects {loaded.model.cfg.item_vector}")
    store = EventStore(read_events(Path(data)), items, loaded.features, loaded.positives, id_vocab=loaded.vocabulary)
    wanted = store.user_ids if users is None else [u for u in users if u in store.user_position]
    positions = np.array([store.user_position[u] for u in wanted], dtype=np.int64)
    with torch.no_grad():
        vecs, valid = embed_sequences(
            loaded.model, store, positions, np.full(len(positions), cutoff_ms, dtype=np.int64),
            loaded.features.max_length,
        )
    return {u: [float(x) for x in v] for u, v, ok in zip(wanted, vecs, valid) if ok}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pinnerformer.embed", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model directory (needs model.pt and manifest.json)")
    p.add_argument("--data", required=True, help="data root with events/ and items/")
    p.add_argument("--cutoff-ms", required=True, type=int, help="inference cutoff, epoch ms: events with ts < T")
    p.add_argument("--users", default=None, help="comma-separated user ids (default: all with events before T)")
    p.add_argument("--out", required=True, help="output JSON file ({userId: [floats]})")
    args = p.parse_args(argv)
    users = [u for u in args.users.split(",") if u] if args.users else None
    result = embed_users(args.model, args.data, args.cutoff_ms, users)
    Path(args.out).write_text(json.dumps(result))
    print(f"embedded {len(result)} users -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
