"""Export: PyTorch vs onnxruntime parity (dynamic batch/length, right padding, no NaN) and the
model directory (manifest, item embeddings, reloadable weights)."""

import json
import re
from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow.parquet as pq
import pytest
import torch

from pinnerformer.config import ModelConfig, TrainConfig
from pinnerformer.export import export_model_dir, export_onnx, load_model_dir
from pinnerformer.features import INPUT_NAMES
from pinnerformer.model import PinnerFormer

# The demo model's shape (M = 256) with random weights; trained weights are checked through the
# model directory below.
CFG = ModelConfig(layers=2, hidden=64, heads=4, embedding=64, max_length=256, item_vector=32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = PinnerFormer(CFG).eval()
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(model, path)
    return model, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def inputs(b, length, rng, scale=1.0, item_vector=CFG.item_vector):
    lengths = rng.integers(1, length + 1, size=b)
    lengths[0] = length  # at least one full row
    real = np.arange(length)[None, :] < lengths[:, None]
    x = {
        "item_vec": rng.normal(size=(b, length, item_vector)).astype(np.float32) * scale,
        "item_id": rng.integers(1, 3, size=(b, length)),
        "action": rng.integers(1, 5, size=(b, length)),
        "surface": rng.integers(1, 6, size=(b, length)),
        "time_frac": rng.random(size=(b, length, CFG.time_dims)).astype(np.float32),
        "scalars": (rng.random(size=(b, length, 4)) * 20 * scale).astype(np.float32),
    }
    for k, v in x.items():
        mask = real if v.ndim == 2 else real[..., None]
        x[k] = np.where(mask, v, 0).astype(v.dtype)
    x["lengths"] = lengths.astype(np.int64)
    return {k: (v.astype(np.int64) if v.dtype.kind == "i" else v) for k, v in x.items()}


@pytest.mark.parametrize(("batch", "length"), [(1, 1), (1, 256), (2, 1), (7, 37), (64, 256), (512, 64)])
def test_onnx_matches_pytorch(exported, batch, length):
    model, session = exported
    x = inputs(batch, length, np.random.default_rng(batch * 1000 + length))
    with torch.no_grad():
        ref = model(*[torch.from_numpy(x[n]) for n in INPUT_NAMES]).numpy()
    (out,) = session.run(None, x)
    assert out.shape == (batch, CFG.embedding)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4)


@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("item_vector", [32, 0])  # 0: events only, no item table
@pytest.mark.parametrize("attention", ["op", "explicit"])
def test_id_vocabulary_models_export_with_parity(tmp_path, attention, item_vector, skip):
    # Prepare: an id-vocabulary model, with or without vectors, leaning toward its last item or not
    torch.manual_seed(1)
    cfg = replace(CFG, last_item_skip=skip, id_vocab_size=50, hash_buckets=8, item_vector=item_vector,
                  id_dim=16 if item_vector else CFG.embedding)
    model = PinnerFormer(cfg).eval()
    if skip:
        with torch.no_grad():
            model.skip_weight.fill_(0.8)
    export_onnx(model, tmp_path / "model.onnx", attention=attention)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    x = inputs(9, 23, rng, item_vector=item_vector)
    x["item_id"] = np.where(x["item_id"] > 0, rng.integers(1, 60, size=x["item_id"].shape), 0)
    # Act
    with torch.no_grad():
        ref = model(*[torch.from_numpy(x[n]) for n in INPUT_NAMES]).numpy()
    (out,) = session.run(None, x)
    # Assess
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4)


def test_extreme_inputs_give_no_nan(exported):
    _, session = exported
    x = inputs(5, 20, np.random.default_rng(9), scale=1e4)
    x["item_id"][:] = np.where(x["item_id"] > 0, 1, 0)
    (out,) = session.run(None, x)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)


def test_model_directory_round_trip(tiny, tmp_path):
    from pinnerformer.evaluate import embed_sequences
    from pinnerformer.train import train_model

    ds, fcfg, mcfg, _ = tiny
    tcfg = TrainConfig(steps=2, batch_size=4, random_negatives=16)
    model, stats = train_model(ds.store, ds.train_users, ds.eval_cutoff_ms, mcfg, tcfg, fcfg.max_length, progress=False)
    out = tmp_path / "demo"
    manifest = export_model_dir(out, model, ds, fcfg, mcfg, tcfg, stats, {"recall_at_10": 0.5}, command="test")
    # manifest per docs/model-interface.md
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert re.fullmatch(r"pf-2x16-[0-9a-f]{8}", manifest["modelVersion"])
    assert manifest["dims"] == {"embedding": 8, "hidden": 16, "layers": 2, "heads": 2, "maxLength": 32, "itemVector": 8}
    assert manifest["vocab"]["action"] == ["view", "closeup", "click", "save"]
    assert len(manifest["features"]["relPeriodsSec"]) == 32 and manifest["items"]["idVocabulary"] is None
    # the item table's coverage of the training events, which the daily gate compares a day against
    idx = ds.store.item_index
    expected = float(np.mean((idx >= 0) & (idx < len(ds.items))))
    assert 0 < manifest["items"]["trainingCoverage"] <= 1
    assert abs(manifest["items"]["trainingCoverage"] - expected) < 1e-6
    assert manifest["dataFingerprint"] == "test" and manifest["seed"] == 0
    # item embeddings = the item tower, one row per item
    table = pq.read_table(out / "item_embeddings.parquet")
    assert table["item_id"].to_pylist() == ds.items.ids
    emb = np.asarray(table["embedding"].to_pylist(), dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # weights reload and reproduce the ONNX output on real sequences
    loaded = load_model_dir(out)
    users = ds.train_users[:5]
    cut = np.full(5, ds.eval_cutoff_ms)
    vec, valid = embed_sequences(loaded.model, ds.store, users, cut, fcfg.max_length)
    ref, _ = embed_sequences(model, ds.store, users, cut, fcfg.max_length)
    np.testing.assert_array_equal(vec, ref)
    from pinnerformer.features import featurize

    spans = [ds.store.window(int(u), ds.store.end_before(int(u), ds.eval_cutoff_ms), fcfg.max_length) for u in users]
    x = featurize(ds.store, spans, cut)
    # both graphs (portable model.onnx, CPU-tuned model.cpu.onnx) reproduce PyTorch
    assert manifest["files"]["onnx"] == "model.onnx" and manifest["files"]["onnxCpu"] == "model.cpu.onnx"
    for name in ("model.onnx", "model.cpu.onnx"):
        (onnx_out,) = ort.InferenceSession(str(out / name), providers=["CPUExecutionProvider"]).run(None, x)
        np.testing.assert_allclose(onnx_out, ref, atol=1e-5)
    assert {o.domain: o.version for o in onnx.load(str(out / "model.onnx")).opset_import} == {"": 17}
    assert {o.domain: o.version for o in onnx.load(str(out / "model.cpu.onnx")).opset_import} == {"": 23}


def test_reexport_rewrites_both_graphs_from_the_weights(tiny, tmp_path):
    from pinnerformer.export import reexport_model_dir
    from pinnerformer.train import train_model

    ds, fcfg, mcfg, _ = tiny
    tcfg = TrainConfig(steps=1, batch_size=4, random_negatives=16)
    model, stats = train_model(ds.store, ds.train_users, ds.eval_cutoff_ms, mcfg, tcfg, fcfg.max_length, progress=False)
    out = tmp_path / "demo"
    manifest = export_model_dir(out, model, ds, fcfg, mcfg, tcfg, stats, {}, command="test")
    (out / "model.cpu.onnx").unlink()  # an older directory with one graph
    (out / "model.onnx").write_bytes(b"stale")
    version = reexport_model_dir(out)
    assert version == manifest["modelVersion"]  # deterministic export of the same weights
    again = json.loads((out / "manifest.json").read_text())
    assert again["modelVersion"] == version and again["files"]["onnxCpu"] == "model.cpu.onnx"
    assert (out / "model.cpu.onnx").stat().st_size > 0


def test_large_models_keep_their_weights_as_external_data(exported, tmp_path, monkeypatch):
    import pinnerformer.export as export

    model, session = exported
    monkeypatch.setattr(export, "EXTERNAL_DATA_BYTES", 0)  # treat this small model as large
    path = tmp_path / "model.onnx"
    export.export_onnx(model, path)
    assert (tmp_path / "model.onnx.data").stat().st_size > path.stat().st_size
    x = inputs(3, 10, np.random.default_rng(5))
    (out,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, x)
    np.testing.assert_allclose(out, session.run(None, x)[0], rtol=0, atol=1e-6)


def test_attention_node_export_matches_the_explicit_export(exported, tmp_path):
    """The default graph writes each attention as one ONNX Attention node (opset 23: causal in the
    trunk, a key mask for the last block's query row); attention="explicit" writes MatMul/Softmax
    with a causal mask (opset 17). Same embeddings, right padding included."""
    import onnx

    model, session = exported
    path = tmp_path / "explicit.onnx"
    export_onnx(model, path, attention="explicit")
    explicit = onnx.load(str(path))
    default_path = tmp_path / "op.onnx"
    export_onnx(model, default_path)
    default = onnx.load(str(default_path))
    ops = lambda p: [n.op_type for n in p.graph.node]  # noqa: E731
    assert ops(default).count("Attention") == CFG.layers and "Softmax" not in ops(default)
    assert {o.domain: o.version for o in default.opset_import} == {"": 23}
    assert "Attention" not in ops(explicit) and ops(explicit).count("Softmax") == CFG.layers
    assert {o.domain: o.version for o in explicit.opset_import} == {"": 17}
    x = inputs(9, 50, np.random.default_rng(3))
    (a,) = session.run(None, x)
    (b,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, x)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_unknown_attention_export_is_refused():
    from pinnerformer.model import ExportWrapper

    with pytest.raises(ValueError, match="attention export 'fused'"):
        ExportWrapper(PinnerFormer(CFG), attention="fused")


def test_version_covers_every_file_of_the_directory(tiny, tmp_path):
    from pinnerformer.export import content_digest
    from pinnerformer.train import train_model

    ds, fcfg, mcfg, _ = tiny
    tcfg = TrainConfig(steps=1, batch_size=4, random_negatives=16)
    model, stats = train_model(ds.store, ds.train_users, ds.eval_cutoff_ms, mcfg, tcfg, fcfg.max_length, progress=False)
    out = tmp_path / "sealed"
    manifest = export_model_dir(out, model, ds, fcfg, mcfg, tcfg, stats, {}, command="test")
    version = manifest["modelVersion"]
    assert manifest["versionCovers"] == "contents"
    assert version.endswith(content_digest(out, version)[:8])
    # a changed manifest or item table no longer matches the version it carries
    text = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(text.replace('"maxLength": 32', '"maxLength": 64'))
    assert not version.endswith(content_digest(out, version)[:8])
    (out / "manifest.json").write_text(text)
    (out / "item_embeddings.parquet").write_bytes((out / "item_embeddings.parquet").read_bytes() + b"\0")
    assert not version.endswith(content_digest(out, version)[:8])
