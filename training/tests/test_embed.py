"""The embed CLI (the PyTorch side of the cross-language test) on canonical event files."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from pinnerformer.config import DAY_MS, TrainConfig
from pinnerformer.embed import main as embed_main
from pinnerformer.evaluate import embed_sequences
from pinnerformer.export import export_model_dir
from pinnerformer.train import train_model


def write_root(root, table, items):
    days = (np.asarray(table["ts"]) // DAY_MS) * DAY_MS
    for day in np.unique(days):
        date = np.datetime64(int(day), "ms").astype("datetime64[D]").astype(str)
        part = table.filter(pa.array(days == day))
        part = part.set_column(5, "duration_ms", part["duration_ms"].cast(pa.int32()))
        (root / "events" / f"dt={date}").mkdir(parents=True)
        pq.write_table(part, root / "events" / f"dt={date}" / "part-0.parquet")
    (root / "items").mkdir()
    vec = pa.FixedSizeListArray.from_arrays(pa.array(items.vectors.ravel(), pa.float32()), items.dim)
    pq.write_table(pa.table({"item_id": items.ids, "vector": vec}), root / "items" / "items.parquet")


def test_embed_cli_writes_the_pytorch_embeddings(tiny, tmp_path):
    # Prepare: the tiny data set as canonical files, and a model directory
    ds, fcfg, mcfg, table = tiny
    root = tmp_path / "data"
    write_root(root, table, ds.items)
    torch.manual_seed(0)
    tcfg = TrainConfig(steps=2, batch_size=4, random_negatives=16, pool=1)
    model, stats = train_model(ds.store, ds.train_users, ds.eval_cutoff_ms, mcfg, tcfg, fcfg.max_length, progress=False)
    export_model_dir(tmp_path / "model", model, ds, fcfg, mcfg, tcfg, stats, {}, command="test")
    cutoff = ds.eval_cutoff_ms
    users = [ds.store.user_ids[i] for i in ds.train_users[:3]] + ["nobody"]
    out = tmp_path / "emb.json"
    # Act
    embed_main(["--model", str(tmp_path / "model"), "--data", str(root), "--cutoff-ms", str(cutoff),
                "--users", ",".join(users), "--out", str(out)])
    # Assess: the listed users with history, equal to embedding the in-memory store
    got = json.loads(out.read_text())
    assert sorted(got) == sorted(users[:3])
    ref, _ = embed_sequences(model, ds.store, ds.train_users[:3], np.full(3, cutoff), fcfg.max_length)
    for u, r in zip(users[:3], ref):
        assert len(got[u]) == mcfg.embedding
        np.testing.assert_allclose(got[u], r, atol=1e-6)
        assert math.isclose(float(np.linalg.norm(got[u])), 1.0, abs_tol=1e-5)
