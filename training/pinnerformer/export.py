"""Model directory (docs/model-interface.md): model.onnx, model.cpu.onnx, manifest.json,
item_embeddings.parquet, plus model.pt (PyTorch weights and configs, for the embed CLI and
evaluation).

Two graphs of the same weights: `model.onnx` is the portable contract graph (explicit
MatMul/Softmax attention, opset 17) that every execution provider runs, CUDA included, and whose
hash names the model version; `model.cpu.onnx` writes each attention as one ONNX `Attention` node
(opset 23), ~1.5x faster on onnxruntime's CPU provider, which is the only provider that uses it
(the CUDA kernel of that new operator is untested here). The TypeScript embedder checks on every
open that the two agree on a probe batch.

    python -m pinnerformer.export --reexport DIR   # rewrite both graphs of DIR from its model.pt
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from .config import FeatureConfig, ModelConfig, PositiveConfig, TrainConfig, to_jsonable
from .corpus import item_embeddings
from .features import INPUT_NAMES, OUTPUT_NAME, ItemVocabulary
from .model import ATTENTION_OPSET, EXPORT_DOMAIN, ExportWrapper, PinnerFormer

EXTERNAL_DATA_BYTES = 100 * 1024 * 1024
OPSET = 17  # what the TorchScript exporter writes; graphs with Attention nodes end at ATTENTION_OPSET
ID_VOCAB_FILE = "item_vocab.json"
ONNX_FILE = "model.onnx"  # portable graph: every provider; its hash names the version
CPU_ONNX_FILE = "model.cpu.onnx"  # Attention-node graph: onnxruntime's CPU provider only


def example_inputs(cfg: ModelConfig, batch: int = 2, length: int = 3) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(batch, length, cfg.item_vector, generator=g),
        torch.full((batch, length), 2, dtype=torch.long),
        torch.ones(batch, length, dtype=torch.long),
        torch.full((batch, length), 2, dtype=torch.long),
        torch.rand(batch, length, cfg.time_dims, generator=g),
        torch.rand(batch, length, 4, generator=g),
        torch.full((batch,), length, dtype=torch.long),
    )


def finalize_attention_nodes(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The exporter writes ONNX `Attention` nodes in EXPORT_DOMAIN (it stops at opset 20): convert
    the graph to ATTENTION_OPSET (onnx's version converter) and move them to the standard domain.
    A graph without such nodes is returned as is."""
    if not any(n.domain == EXPORT_DOMAIN for n in proto.graph.node):
        return proto
    from onnx import version_converter

    proto = version_converter.convert_version(proto, ATTENTION_OPSET)
    for node in proto.graph.node:
        if node.domain == EXPORT_DOMAIN:
            node.domain = ""
    keep = [o for o in proto.opset_import if o.domain != EXPORT_DOMAIN]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model: PinnerFormer, path: Path, attention: str = "op") -> None:
    """ONNX with dynamic batch and length axes; weights as external data when large. `attention`:
    "op" (ONNX Attention nodes, opset 23: the fastest graph on onnxruntime) or "explicit"
    (MatMul/Softmax with a causal mask, opset 17); see model.ExportWrapper."""
    model = model.cpu().eval()
    axes = {name: {0: "batch", 1: "length"} for name in INPUT_NAMES if name != "lengths"}
    axes["lengths"] = {0: "batch"}
    axes[OUTPUT_NAME] = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ExportWrapper(model, attention)  # the mode is an argument: the model is not changed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            wrapper,
            example_inputs(model.cfg),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=OPSET,
            custom_opsets={EXPORT_DOMAIN: 1} if attention == "op" else None,
            dynamo=False,
        )
    proto = finalize_attention_nodes(onnx.load(str(path)))
    if proto.ByteSize() > EXTERNAL_DATA_BYTES:
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data")
    else:
        onnx.save_model(proto, str(path))


def export_graphs(model: PinnerFormer, directory: Path) -> None:
    """Both graphs of a model directory (module docstring), from the same weights."""
    export_onnx(model, directory / ONNX_FILE, attention="explicit")
    export_onnx(model, directory / CPU_ONNX_FILE, attention="op")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_version(cfg: ModelConfig, onnx_path: Path) -> str:
    return f"pf-{cfg.layers}x{cfg.hidden}-{sha256_file(onnx_path)[:8]}"


VERSION_COVERS = "contents"  # manifest "versionCovers": the version hashes every file (TS: modelContentDigest)


def content_digest(directory: Path, version: str) -> str:
    """SHA-256 over ``name NUL sha256(bytes) LF`` for every file of the directory in name order
    (dotfiles excepted), manifest.json with its modelVersion value blanked: a changed manifest or
    item table gets a new version, and src/inference/model-dir.ts refuses one that does not."""
    total = hashlib.sha256()
    for path in sorted((p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")),
                       key=lambda p: p.name.encode("utf-8")):
        if path.name == "manifest.json":
            text = path.read_text().replace(f'"modelVersion": {json.dumps(version)}', '"modelVersion": ""', 1)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        else:
            digest = sha256_file(path)
        total.update(f"{path.name}\0{digest}\n".encode("utf-8"))
    return total.hexdigest()


def seal_version(directory: Path, cfg: ModelConfig) -> str:
    """Names the directory's version after its contents and writes it into manifest.json."""
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["modelVersion"] = ""
    manifest["versionCovers"] = VERSION_COVERS
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    version = f"pf-{cfg.layers}x{cfg.hidden}-{content_digest(directory, '')[:8]}"
    path.write_text(path.read_text().replace('"modelVersion": ""', f'"modelVersion": {json.dumps(version)}', 1))
    return version


def write_item_embeddings(path: Path, ids: list[str], emb: np.ndarray) -> None:
    d = emb.shape[1]
    values = pa.array(np.ascontiguousarray(emb, dtype=np.float32).ravel(), pa.float32())
    col = pa.FixedSizeListArray.from_arrays(values, d)
    # plain encoding: float vectors do not dictionary-encode, and this keeps the file ~N*D*4 bytes
    pq.write_table(
        pa.table({"item_id": pa.array(ids, pa.string()), "embedding": col}), path, compression="snappy",
        use_dictionary=False,
    )


def item_table_coverage(ds) -> float:
    """The share of training events whose item has a vector in the item table (corpus indices below
    the table's length): the daily gate refuses a day whose table covers far fewer of its events."""
    idx = ds.store.item_index
    if len(idx) == 0:
        return 0.0
    return round(float(np.mean((idx >= 0) & (idx < len(ds.items)))), 6)


def build_manifest(
    version: str,
    fcfg: FeatureConfig,
    mcfg: ModelConfig,
    pcfg: PositiveConfig,
    tcfg: TrainConfig,
    extra_training: dict,
    fingerprint: str,
    metrics: dict,
    command: str,
    data: dict | None,
    vocab: ItemVocabulary | None = None,
) -> dict:
    items: dict = {"idVocabulary": None}
    if mcfg.id_vocab_size:
        items = {"idVocabulary": ID_VOCAB_FILE, "hashBuckets": mcfg.hash_buckets,
                 "minCount": vocab.min_count if vocab is not None else 1}
    return {
        "formatVersion": 1,
        "modelVersion": version,
        "dims": {
            "embedding": mcfg.embedding,
            "hidden": mcfg.hidden,
            "layers": mcfg.layers,
            "heads": mcfg.heads,
            "maxLength": fcfg.max_length,
            "itemVector": mcfg.item_vector,
        },
        "vocab": {"action": list(fcfg.action_vocab), "surface": list(fcfg.surface_vocab)},
        "items": items,
        "features": {
            "absPeriodsSec": list(fcfg.abs_periods_sec),
            "relPeriodsSec": list(fcfg.rel_periods_sec),
            "timeReferenceMs": fcfg.time_reference_ms,
        },
        "positive": {"actions": list(pcfg.actions), "minDurationMs": dict(pcfg.min_duration_ms)},
        "objective": tcfg.objective,
        "inputs": list(INPUT_NAMES),
        "output": OUTPUT_NAME,
        "files": {"onnx": ONNX_FILE, "onnxCpu": CPU_ONNX_FILE, "itemEmbeddings": "item_embeddings.parquet", "weights": "model.pt"},
        "training": {**to_jsonable(tcfg), "model": to_jsonable(mcfg), **extra_training},
        "data": data or {},
        "dataFingerprint": fingerprint,
        "eval": metrics,
        "command": command,
        "seed": tcfg.seed,
        "createdAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def export_model_dir(
    out: Path | str,
    model: PinnerFormer,
    ds,  # noqa: ANN001 - dataset.Dataset
    fcfg: FeatureConfig,
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    stats: dict,
    metrics: dict,
    command: str,
    data: dict | None = None,
    eval_percent: int = 10,
) -> dict:
    """Writes the model directory (atomically replaced) and returns its manifest."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model = model.cpu().eval()
    export_graphs(model, tmp)
    version = model_version(mcfg, tmp / ONNX_FILE)
    torch.save(
        {
            "model_config": asdict(mcfg),
            "feature_config": to_jsonable(fcfg),
            "positive_config": to_jsonable(ds.positives),
            "state_dict": model.state_dict(),
        },
        tmp / "model.pt",
    )
    write_item_embeddings(tmp / "item_embeddings.parquet", ds.store.corpus_ids, item_embeddings(model, ds.store))
    vocab = ds.store.vocab
    if mcfg.id_vocab_size:
        (tmp / ID_VOCAB_FILE).write_text(json.dumps(vocab.ids if vocab is not None else ds.items.ids))
    manifest = build_manifest(
        version, fcfg, mcfg, ds.positives, tcfg, {**stats, "evalPercent": eval_percent}, ds.fingerprint, metrics,
        command, data, vocab,
    )
    if mcfg.item_vector > 0:
        manifest["items"]["trainingCoverage"] = item_table_coverage(ds)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    manifest["modelVersion"] = seal_version(tmp, mcfg)
    manifest["versionCovers"] = VERSION_COVERS
    if out.exists():
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
    return manifest


@dataclass
class LoadedModel:
    model: PinnerFormer
    features: FeatureConfig
    positives: PositiveConfig
    manifest: dict
    id_vocab: list[str] | None

    @property
    def vocabulary(self) -> ItemVocabulary | None:
        """The id vocabulary with the manifest's hash buckets, as training built it."""
        if self.id_vocab is None:
            return None
        items = self.manifest.get("items", {})
        return ItemVocabulary(self.id_vocab, int(items.get("hashBuckets", 0)), int(items.get("minCount", 1)))


def load_model_dir(path: Path | str) -> LoadedModel:
    """The PyTorch model of a model directory (from model.pt) with its configs."""
    path = Path(path)
    state = torch.load(path / "model.pt", map_location="cpu", weights_only=False)
    mcfg = ModelConfig(**state["model_config"])
    f = state["feature_config"]
    fcfg = FeatureConfig(
        action_vocab=tuple(f["action_vocab"]),
        surface_vocab=tuple(f["surface_vocab"]),
        abs_periods_sec=tuple(f["abs_periods_sec"]),
        rel_periods_sec=tuple(f["rel_periods_sec"]),
        time_reference_ms=int(f["time_reference_ms"]),
        max_length=int(f["max_length"]),
    )
    pc_ = state["positive_config"]
    pcfg = PositiveConfig(actions=tuple(pc_["actions"]), min_duration_ms=dict(pc_["min_duration_ms"]))
    model = PinnerFormer(mcfg)
    model.load_state_dict(state["state_dict"])
    model.eval()
    manifest = json.loads((path / "manifest.json").read_text())
    vocab = json.loads((path / ID_VOCAB_FILE).read_text()) if mcfg.id_vocab_size else None
    return LoadedModel(model, fcfg, pcfg, manifest, vocab)


def reexport_model_dir(path: Path | str) -> str:
    """Rewrites both graphs of a model directory from its model.pt (after an export change; the
    weights, item embeddings and metrics stay as they are) and updates the manifest's version and
    file list. Returns the new model version."""
    path = Path(path)
    loaded = load_model_dir(path)
    for name in (ONNX_FILE, CPU_ONNX_FILE):
        for stale in (path / name, path / f"{name}.data"):
            stale.unlink(missing_ok=True)
    export_graphs(loaded.model, path)
    manifest = loaded.manifest
    manifest["files"] = {**manifest.get("files", {}), "onnx": ONNX_FILE, "onnxCpu": CPU_ONNX_FILE}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return seal_version(path, loaded.model.cfg)


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m pinnerformer.export", description="Re-export a model directory.")
    p.add_argument("--reexport", required=True, metavar="DIR", help="model directory holding model.pt")
    args = p.parse_args(argv)
    if not (Path(args.reexport) / "model.pt").is_file():
        p.error(f"{args.reexport} has no model.pt")
    print(reexport_model_dir(args.reexport))


if __name__ == "__main__":
    main()
