"""Benchmark model files (never written into the repository: callers pass a gitignored folder).

  random-dir  a randomly initialised model directory of a given size (model.onnx, model.pt,
              manifest.json, item_embeddings.parquet), through the training package's own export
  variants    graph variants of a model directory's ONNX for the inference benchmark (the base is
              the graph the pipeline runs on the CPU: model.cpu.onnx, ONNX Attention nodes, opset 23):
                explicit.onnx    the export with attention="explicit": MatMul/Softmax with a [L, L]
                                 causal mask (opset 17) = the directory's portable model.onnx, the
                                 graph the CUDA provider runs
                fused.onnx       the explicit export with the trunk's attention as one
                                 com.microsoft.Attention node (causal), then the onnxruntime.transformers
                                 optimizer (SkipLayerNorm/BiasGelu fusions)
                int8.onnx        model.cpu.onnx with dynamic int8 MatMul/Gemm, per-channel weights, the input
                                 projection and the head left in fp32 (the nodes that lose accuracy)
                int8-all.onnx    model.cpu.onnx with every MatMul/Gemm dynamic int8, per-tensor weights
              (all but the int8 ones compute the same function up to float rounding)
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
    CPU_ONNX_FILE,
    build_manifest,
    export_graphs,
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
        newer = (out / CPU_ONNX_FILE).exists() and (out / "model.onnx").exists() and all(
            (out / "model.onnx").stat().st_mtime > f.stat().st_mtime for f in exporter
        )  # an export from older model code is stale
        if manifest.get("training", {}).get("model") == asdict(cfg) and newer:
            log(f"{out} already holds this config")
            return {"dir": str(out), "modelVersion": manifest["modelVersion"], "cached": True}
    torch.manual_seed(seed)
    model = PinnerFormer(cfg).eval()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    export_graphs(model, out)
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

    def forward(self, x: Tensor, attention: str | None = None) -> Tensor:  # [B, L, H]; `attention`: the block's mode, unused
        weight = self.qkv.weight.t().contiguous()  # [H, 3H]: the Attention op's layout
        return self.out(_FusedAttentionOp.apply(x, weight, self.qkv.bias, self.heads))


def export_fused(model: PinnerFormer, path: Path) -> None:
    """The trunk's attention as the fused operator. The model's forward runs the last block at the
    last position only (one query row through `CausalSelfAttention.forward_at`), which is exported
    explicitly (opset 17, which the transformer optimizer reads)."""
    for block in list(model.blocks)[:-1]:
        block.attn = FusedCausalSelfAttention(block.attn)
    export_onnx(model, path, attention="explicit")


# --- optimizer and quantization ----------------------------------------------------------------
def fused_ops(path: Path) -> dict[str, int]:
    proto = onnx.load(str(path), load_external_data=False)
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    keep = ("Attention", "LayerNormalization", "SkipLayerNormalization", "Gelu", "BiasGelu", "FastGelu",
            "MatMul", "FusedMatMul", "Gemm", "Softmax", "Where", "MatMulInteger", "DynamicQuantizeMatMul",
            "QAttention", "DynamicQuantizeLinear")
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


def quantize(src: Path, dst: Path, keep_fp32: bool) -> None:
    """Dynamic int8 (weights int8, activations quantized per run). keep_fp32: per-channel weights,
    and the input projection and head stay fp32. Measured on the trained demo model (B 32, L 256,
    cosine vs fp32): every MatMul per-tensor 0.9868 min, per-channel 0.9968, per-channel without
    the input projection and head 0.99995, only the trunk's MatMuls 0.99997."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load(str(src), load_external_data=False)
    matmuls = [n.name for n in proto.graph.node if n.op_type in ("MatMul", "Gemm")]
    sensitive = [n for n in matmuls if "input_proj" in n or "/head/" in n]
    external = (src.parent / (src.name + ".data")).exists()
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=keep_fp32,
                     op_types_to_quantize=["MatMul", "Gemm"], use_external_data_format=external,
                     nodes_to_exclude=sensitive if keep_fp32 else [],
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})


def variants(model_dir: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    loaded = load_model_dir(model_dir)
    cfg = loaded.model.cfg
    src = model_dir / CPU_ONNX_FILE if (model_dir / CPU_ONNX_FILE).exists() else model_dir / "model.onnx"
    result: dict[str, dict] = {"base": {"path": str(src), "ops": fused_ops(src)}}

    def fused(path: Path) -> None:
        raw = out / "fused-raw.onnx"
        export_fused(load_model_dir(model_dir).model, raw)
        transformer_optimize(raw, path, cfg)

    steps = [
        ("explicit", lambda p: export_onnx(load_model_dir(model_dir).model, p, attention="explicit")),
        ("fused", fused),
        ("int8", lambda p: quantize(src, p, keep_fp32=True)),
        ("int8-all", lambda p: quantize(src, p, keep_fp32=False)),
    ]
    for name, make in steps:
        path = out / f"{name}.onnx"
        started = time.perf_counter()
        try:
            make(path)
            result[name] = {"path": str(path), "ops": fused_ops(path)}
            log(f"{name}: {result[name]['ops']} ({time.perf_counter() - started:.1f}s)")
        except Exception as error:  # noqa: BLE001 - one failing variant is reported, the rest still run
            result[name] = {"error": f"{type(error).__name__}: {error}"[:400]}
            log(f"{name} FAILED: {result[name]['error']}")
    (out / "variants.json").write_text(json.dumps(result, indent=2) + "\n")  # the benchmark's cache marker
    return result


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
    else:
        result = gemm_model(args.out, args.k, args.n)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
