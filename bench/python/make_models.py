"""Benchmark model files (never written into the repository: callers pass a gitignored folder).

  random-dir  a randomly initialised model directory of a given size (model.onnx, model.pt,
              manifest.json, item_embeddings.parquet), through the training package's own export
  variants    graph variants of a model directory's ONNX for the inference benchmark:
                opt.onnx         onnxruntime.transformers optimizer (LayerNorm/GELU/SkipLayerNorm fusions)
                fused.onnx       the trunk's attention as one com.microsoft.Attention node (causal), then
                                 optimized (every export runs the last block at the last position only)
                fused-int8.onnx  the fused export with dynamic int8 quantization (MatMul, Attention)
  optimize-dir  a copy of a model directory with the `fused` graph as model.onnx (same
              embeddings, new modelVersion): what the pipeline runs to get the fastest exact graph
  gemm        a one-MatMul ONNX model ([M, K] x constant [K, N]) to measure onnxruntime's GEMM peak

Every command prints one JSON object on stdout; progress goes to stderr.
Run with PYTHONPATH=training and the training venv's python.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import Tensor, nn

from pinnerformer.config import FeatureConfig, ModelConfig, PositiveConfig, TrainConfig
from pinnerformer.export import (
    build_manifest,
    export_onnx,
    load_model_dir,
    model_version,
    write_item_embeddings,
)
import pinnerformer
from pinnerformer.model import PinnerFormer


def log(message: str) -> None:
    print(f"[make_models] {message}", file=sys.stderr, flush=True)


# --- random model directory ---------------------------------------------------------------------
def random_dir(out: Path, cfg: ModelConfig, seed: int) -> dict:
    """A model directory with random weights; reused when its manifest already names this config."""
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        exporter = [Path(pinnerformer.__file__).with_name(n) for n in ("model.py", "export.py")]
        newer = (out / "model.onnx").exists() and all(
            (out / "model.onnx").stat().st_mtime > f.stat().st_mtime for f in exporter
        )  # an export from older model code is stale
        if manifest.get("training", {}).get("model") == asdict(cfg) and newer:
            log(f"{out} already holds this config")
            return {"dir": str(out), "modelVersion": manifest["modelVersion"], "cached": True}
    torch.manual_seed(seed)
    model = PinnerFormer(cfg).eval()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    export_onnx(model, out / "model.onnx")
    log(f"exported {cfg.layers}x{cfg.hidden} to {out / 'model.onnx'} in {time.perf_counter() - started:.1f}s")
    version = model_version(cfg, out / "model.onnx")
    fcfg = FeatureConfig(max_length=cfg.max_length)
    torch.save(
        {
            "model_config": asdict(cfg),
            "feature_config": {
                "action_vocab": list(fcfg.action_vocab),
                "surface_vocab": list(fcfg.surface_vocab),
                "abs_periods_sec": list(fcfg.abs_periods_sec),
                "rel_periods_sec": list(fcfg.rel_periods_sec),
                "time_reference_ms": fcfg.time_reference_ms,
                "max_length": fcfg.max_length,
            },
            "positive_config": {"actions": ["save"], "min_duration_ms": {"click": 10000, "closeup": 10000}},
            "state_dict": model.state_dict(),
        },
        out / "model.pt",
    )
    # A few item-tower outputs: the pipeline only needs the file to exist and be well formed.
    with torch.inference_mode():
        vec = torch.randn(16, cfg.item_vector)
        ids = torch.full((16,), 2, dtype=torch.long)
        items = model.embed_items(vec, ids).numpy()
    write_item_embeddings(out / "item_embeddings.parquet", [f"item-{i}" for i in range(16)], items)
    manifest = build_manifest(
        version, fcfg, cfg, PositiveConfig(), TrainConfig(steps=0), {"randomInit": True}, "random", {},
        "bench/python/make_models.py random-dir", None,
    )
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return {"dir": str(out), "modelVersion": version, "cached": False}


# --- fused attention export ---------------------------------------------------------------------
class _FusedAttentionOp(torch.autograd.Function):
    """PyTorch reference in forward; one com.microsoft.Attention node (unidirectional) in ONNX."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, heads: int) -> Tensor:  # noqa: ANN001, ARG004
        b, length, hidden = x.shape
        qkv = (x @ weight + bias).reshape(b, length, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, h, L, dh]
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, h, L, dh]
        return y.transpose(1, 2).reshape(b, length, hidden)  # [B, L, H]

    @staticmethod
    def symbolic(g, x, weight, bias, heads):  # noqa: ANN001, ANN205
        out = g.op("com.microsoft::Attention", x, weight, bias, num_heads_i=heads, unidirectional_i=1)
        out.setType(x.type())
        return out


class FusedCausalSelfAttention(nn.Module):
    """Same weights as model.CausalSelfAttention; exports as a single fused operator."""

    def __init__(self, attn: nn.Module) -> None:
        super().__init__()
        self.heads = attn.heads
        self.qkv = attn.qkv
        self.out = attn.out

    def forward(self, x: Tensor) -> Tensor:  # [B, L, H]
        weight = self.qkv.weight.t().contiguous()  # [H, 3H]: the Attention op's layout
        return self.out(_FusedAttentionOp.apply(x, weight, self.qkv.bias, self.heads))


def export_fused(model: PinnerFormer, path: Path) -> None:
    """The trunk's attention as the fused operator. The model's forward runs the last block at the
    last position only (one query row through `CausalSelfAttention.forward_at`), which stays as is."""
    for block in list(model.blocks)[:-1]:
        block.attn = FusedCausalSelfAttention(block.attn)
    export_onnx(model, path)


# --- optimizer and quantization ----------------------------------------------------------------
def fused_ops(path: Path) -> dict[str, int]:
    proto = onnx.load(str(path), load_external_data=False)
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    keep = ("Attention", "LayerNormalization", "SkipLayerNormalization", "Gelu", "BiasGelu", "FastGelu",
            "MatMul", "FusedMatMul", "Softmax", "MatMulInteger", "DynamicQuantizeMatMul", "QAttention",
            "DynamicQuantizeLinear")
    return {k: v for k, v in sorted(counts.items()) if k in keep}


def save(proto: onnx.ModelProto, path: Path) -> None:
    large = proto.ByteSize() > 1_800_000_000 or sum(t.ByteSize() for t in proto.graph.initializer) > 100 * 2**20
    if large:
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data")
    else:
        onnx.save_model(proto, str(path))


def transformer_optimize(src: Path, dst: Path, cfg: ModelConfig) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = optimize_model(str(src), model_type="bert", num_heads=cfg.heads, hidden_size=cfg.hidden,
                             opt_level=0, use_gpu=False)
    save(opt.model, dst)


def quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    external = (src.parent / (src.name + ".data")).exists()
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=False,
                     op_types_to_quantize=["MatMul", "Attention"], use_external_data_format=external,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})


def variants(model_dir: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    loaded = load_model_dir(model_dir)
    cfg = loaded.model.cfg
    src = model_dir / "model.onnx"
    result: dict[str, dict] = {"base": {"path": str(src), "ops": fused_ops(src)}}
    steps = [
        ("opt", lambda p: transformer_optimize(src, p, cfg)),
        ("fused", None),
        # quantize the unfused graphs: the quantizer cannot type the optimizer's contrib ops
        ("fused-int8", lambda p: quantize(out / "fused-raw.onnx", p)),
    ]
    for name, make in steps:
        path = out / f"{name}.onnx"
        started = time.perf_counter()
        try:
            if name == "fused":
                raw = out / "fused-raw.onnx"
                export_fused(load_model_dir(model_dir).model, raw)
                transformer_optimize(raw, path, cfg)
            else:
                make(path)
            result[name] = {"path": str(path), "ops": fused_ops(path)}
            log(f"{name}: {result[name]['ops']} ({time.perf_counter() - started:.1f}s)")
        except Exception as error:  # noqa: BLE001 - one failing variant is reported, the rest still run
            result[name] = {"error": f"{type(error).__name__}: {error}"[:400]}
            log(f"{name} FAILED: {result[name]['error']}")
    (out / "variants.json").write_text(json.dumps(result, indent=2) + "\n")  # the benchmark's cache marker
    return result


# --- an optimized model directory the pipeline can run -----------------------------------------
def optimize_dir(model_dir: Path, out: Path) -> dict:
    """A copy of a model directory whose model.onnx is the `fused` graph (fused trunk attention,
    optimizer fusions; the last block at the last position as in every export): the same embeddings (exact up to float
    rounding), a new modelVersion (the hash of the new model.onnx). Deploy it like any model
    directory: `pinnerformer daily --model <out>`."""
    import shutil

    loaded = load_model_dir(model_dir)
    cfg = loaded.model.cfg
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in model_dir.iterdir():
        if f.is_file() and not f.name.startswith("model.onnx"):
            shutil.copy2(f, tmp / f.name)
    raw = tmp / "fused-raw.onnx"
    export_fused(loaded.model, raw)
    transformer_optimize(raw, tmp / "model.onnx", cfg)
    for f in tmp.iterdir():
        if f.name.startswith("fused-raw.onnx"):
            f.unlink()
    manifest = json.loads((model_dir / "manifest.json").read_text())
    version = model_version(cfg, tmp / "model.onnx")
    manifest["graph"] = {
        "optimizedFrom": manifest["modelVersion"],
        "variant": "fused: com.microsoft.Attention in the trunk, final block at the last position only, "
                   "onnxruntime.transformers optimizer fusions (bench/python/make_models.py optimize-dir)",
    }
    manifest["modelVersion"] = version
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f"optimized {model_dir} -> {out} ({version})")
    return {"dir": str(out), "modelVersion": version, "optimizedFrom": manifest["graph"]["optimizedFrom"]}


# --- GEMM model --------------------------------------------------------------------------------
def gemm_model(path: Path, k: int, n: int) -> dict:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])],
        [weight],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(path))
    return {"path": str(path), "k": k, "n": n}


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("random-dir")
    r.add_argument("--out", required=True, type=Path)
    for name, default in (("layers", 2), ("hidden", 64), ("heads", 4), ("embedding", 64), ("item-vector", 32),
                          ("max-length", 256), ("seed", 0)):
        r.add_argument(f"--{name}", type=int, default=default)
    v = sub.add_parser("variants")
    v.add_argument("--model", required=True, type=Path)
    v.add_argument("--out", required=True, type=Path)
    o = sub.add_parser("optimize-dir")
    o.add_argument("--model", required=True, type=Path)
    o.add_argument("--out", required=True, type=Path)
    g = sub.add_parser("gemm")
    g.add_argument("--out", required=True, type=Path)
    g.add_argument("--k", type=int, default=2048)
    g.add_argument("--n", type=int, default=2048)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    if args.cmd == "random-dir":
        cfg = replace(ModelConfig(), layers=args.layers, hidden=args.hidden, heads=args.heads,
                      embedding=args.embedding, item_vector=args.item_vector, max_length=args.max_length)
        result = random_dir(args.out, cfg, args.seed)
    elif args.cmd == "variants":
        result = variants(args.model, args.out)
    elif args.cmd == "optimize-dir":
        result = optimize_dir(args.model, args.out)
    else:
        result = gemm_model(args.out, args.k, args.n)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
