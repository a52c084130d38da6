"""Paper-size PinnerFormer on one GPU: onnxruntime CUDA EP (fp32, fp16) against PyTorch on the same GPU.

Same model (random weights, 6 x 768, D 256, M 256), same inputs (full-length batches), same GPU.
Writes one JSON report. Run through bench/gpu.sh (which checks the environment first).

  gpu_bench.py --work DIR --out FILE [--batches 16,64,128] [--reps 5] [--peak-fp32 T --peak-fp16 T]
  gpu_bench.py --work DIR --out FILE --dry-run   # every step on the CPU with a tiny model (tests)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_models import export_fused, random_dir  # noqa: E402

from pinnerformer.config import ModelConfig  # noqa: E402
from pinnerformer.export import load_model_dir  # noqa: E402
from pinnerformer.features import INPUT_NAMES  # noqa: E402

# Dense peaks in TFLOPS (fp32 without TF32, fp16 tensor cores), from the vendors' datasheets.
PEAKS = {"A10G": (31.2, 125.0), "A10": (31.2, 125.0), "L4": (30.3, 121.0), "T4": (8.1, 65.0),
         "A100": (19.5, 312.0), "H100": (67.0, 989.0), "H200": (67.0, 989.0), "L40S": (91.6, 362.0)}
PAPER = replace(ModelConfig(), layers=6, hidden=768, heads=8, embedding=256, item_vector=256, max_length=256)
# --dry-run: the same steps on the CPU with a model small enough for a test
TINY = replace(ModelConfig(), layers=2, hidden=32, heads=4, embedding=16, item_vector=8, max_length=16)


def log(message: str) -> None:
    print(f"[gpu_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def flops_per_user(cfg: ModelConfig, length: int) -> float:
    """Same count as bench/flops.ts: projections, full L x L attention, FFN, head at one position."""
    h, l = cfg.hidden, length
    in_w = cfg.item_vector + cfg.id_dim + cfg.action_dim + cfg.surface_dim + 2 * cfg.time_dims + 4
    layer = 2 * l * h * 3 * h + 4 * l * l * h + 2 * l * h * h + 16 * l * h * h
    return 2 * l * in_w * h + cfg.layers * layer + 8 * h * h + 8 * h * cfg.embedding


def inputs(cfg: ModelConfig, batch: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "item_vec": rng.standard_normal((batch, length, cfg.item_vector), dtype=np.float32) * 0.3,
        "item_id": np.full((batch, length), 2, dtype=np.int64),
        "action": rng.integers(1, cfg.num_actions + 1, (batch, length), dtype=np.int64),
        "surface": rng.integers(2, cfg.num_surfaces + 2, (batch, length), dtype=np.int64),
        "time_frac": rng.random((batch, length, cfg.time_dims), dtype=np.float32),
        "scalars": rng.random((batch, length, 4), dtype=np.float32),
        "lengths": np.full((batch,), length, dtype=np.int64),
    }


def fp16_model(model_dir: Path, work: Path, cfg: ModelConfig) -> Path:
    """Fused attention export, transformer optimizer for the GPU, then fp16 weights (fp32 inputs/outputs)."""
    from onnxruntime.transformers.optimizer import optimize_model

    out = work / "fused-fp16.onnx"
    if out.exists():
        return out
    raw = work / "fused-raw.onnx"
    export_fused(load_model_dir(model_dir).model, raw)
    opt = optimize_model(str(raw), model_type="bert", num_heads=cfg.heads, hidden_size=cfg.hidden,
                         opt_level=0, use_gpu=True)
    opt.convert_float_to_float16(keep_io_types=True)
    onnx.save_model(opt.model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=out.name + ".data")
    return out


def ort_session(path: Path, no_cpu_fallback: bool, provider: str = "CUDAExecutionProvider") -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if no_cpu_fallback:  # what the pipeline's CUDA mode sets (src/inference/session.ts)
        so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    options = {"device_id": 0} if provider == "CUDAExecutionProvider" else {}
    session = ort.InferenceSession(str(path), so, providers=[(provider, options)])
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"{provider} not active: {session.get_providers()}")
    return session


def time_it(fn, reps: int, warmup: int = 2) -> list[float]:  # noqa: ANN001
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return seconds


def cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.min(np.sum(a * b, axis=1)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batches", default="16,64,128")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--peak-fp32", type=float, default=0.0, help="TFLOPS; default from the GPU name")
    p.add_argument("--peak-fp16", type=float, default=0.0)
    p.add_argument("--dry-run", action="store_true", help="run every step on the CPU with a tiny model")
    args = p.parse_args()
    cfg, device, provider = (TINY, "cpu", "CPUExecutionProvider") if args.dry_run else (PAPER, "cuda", "CUDAExecutionProvider")
    if args.dry_run:
        args.batches, args.reps = "2", 1
    elif not torch.cuda.is_available():
        raise SystemExit("PyTorch sees no CUDA device")
    elif "CUDAExecutionProvider" not in ort.get_available_providers():
        raise SystemExit(f"onnxruntime has no CUDA EP ({ort.get_available_providers()}): install onnxruntime-gpu")
    name = "CPU (dry run)" if args.dry_run else torch.cuda.get_device_name(0)
    # longest names first: "A10" is a prefix of "A100", "L4" of "L40S"
    peak32, peak16 = next((PEAKS[k] for k in sorted(PEAKS, key=len, reverse=True) if k in name), (0.0, 0.0))
    peak32, peak16 = args.peak_fp32 or peak32, args.peak_fp16 or peak16
    log(f"GPU {name}; peaks fp32 {peak32} / fp16 {peak16} TFLOPS; onnxruntime {ort.__version__}, torch {torch.__version__}")

    args.work.mkdir(parents=True, exist_ok=True)
    model_dir = args.work / f"model-{cfg.layers}x{cfg.hidden}"
    random_dir(model_dir, cfg, seed=0)
    log(f"exported the {cfg.layers}x{cfg.hidden} model; building the fp16 graph")
    fp16_path = fp16_model(model_dir, args.work, cfg)
    model = load_model_dir(model_dir).model.eval().to(device)
    graphs = {"onnxruntime-fp32": model_dir / "model.onnx", "onnxruntime-fp16": fp16_path}
    # the CPU-tuned graph (ONNX Attention op, opset 23): whether CUDA runs it without CPU fallback
    # decides if the Batch container could use it too (it runs the portable model.onnx today)
    if (model_dir / "model.cpu.onnx").exists():
        graphs["onnxruntime-fp32-attention-op"] = model_dir / "model.cpu.onnx"
    sessions = {}
    fallback = {}
    for label, path in graphs.items():
        try:
            # the dry run's CPU provider cannot also forbid CPU fallback (onnxruntime refuses the pair)
            sessions[label] = ort_session(path, no_cpu_fallback=not args.dry_run, provider=provider)
            fallback[label] = "none needed"
        except Exception as error:  # noqa: BLE001 - recorded: the pipeline's CUDA mode would refuse this graph
            fallback[label] = f"needs CPU fallback: {str(error).splitlines()[0][:200]}"
            try:
                sessions[label] = ort_session(path, no_cpu_fallback=False, provider=provider)
            except Exception as again:  # noqa: BLE001 - e.g. fp16 kernels missing on the dry run's CPU
                fallback[label] = f"does not open: {str(again).splitlines()[0][:200]}"
        log(f"{label}: {fallback[label]}")

    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        feeds = inputs(cfg, batch, cfg.max_length)
        tensors = tuple(torch.from_numpy(feeds[n]).to(device) for n in INPUT_NAMES)
        flop = flops_per_user(cfg, cfg.max_length) * batch
        outs = {}

        def torch_run(dtype: torch.dtype | None, key: str):  # noqa: ANN202
            def run() -> None:
                with torch.inference_mode(), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
                    outs[key] = model(*tensors).float()
                if device == "cuda":
                    torch.cuda.synchronize()
            return run

        contenders = {
            "pytorch-fp32": (torch_run(None, "pytorch-fp32"), peak32),
            "pytorch-fp16-autocast": (torch_run(torch.float16, "pytorch-fp16-autocast"), peak16),
        }
        for label, session in sessions.items():
            def run(session=session, label=label) -> None:  # noqa: ANN001
                outs[label] = session.run(["embedding"], feeds)[0]
            contenders[label] = (run, peak32 if "fp32" in label else peak16)
        for label, (fn, peak) in contenders.items():
            try:
                seconds = time_it(fn, args.reps)
            except Exception as error:  # noqa: BLE001 - e.g. out of memory at a large batch
                rows.append({"batch": batch, "contender": label, "error": str(error)[:300]})
                log(f"batch {batch} {label} FAILED: {error}")
                continue
            best = min(seconds)
            ref = outs.get("pytorch-fp32")
            out = outs[label]
            out = out.cpu().numpy() if isinstance(out, torch.Tensor) else out
            ref = ref.cpu().numpy() if isinstance(ref, torch.Tensor) else ref
            rows.append({
                "batch": batch, "contender": label, "usersPerSec": batch / best,
                "usersPerSecMedian": batch / float(np.median(seconds)),
                "peakFraction": (flop / best) / (peak * 1e12) if peak else None,
                "cosineMinVsPytorchFp32": cosine_min(ref, out) if ref is not None else None,
            })
            log(f"batch {batch} {label}: {batch / best:.1f} users/s")
        del tensors
        if device == "cuda":
            torch.cuda.empty_cache()

    report = {
        "createdAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gpu": name, "peakTflops": {"fp32": peak32, "fp16": peak16},
        "onnxruntime": ort.__version__, "torch": torch.__version__,
        "model": (
            f"{cfg.layers}x{cfg.hidden}, D {cfg.embedding}, M {cfg.max_length}, random weights; full-length batches"
            + (" (dry run on the CPU: checks the script, measures nothing)" if args.dry_run else "")
        ),
        "flopsPerUser": flops_per_user(cfg, cfg.max_length),
        "cpuFallback": fallback, "rows": rows,
        "note": "onnxruntime through its Python API (same engine as onnxruntime-node); timings include host<->device copies, as the pipeline's session.run does",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
