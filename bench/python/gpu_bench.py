"""Paper-size PinnerFormer on one GPU: onnxruntime CUDA EP (fp32, fp16) against PyTorch on the same GPU.

Same model (random weights, 6 x 768, D 256, M 256), same inputs (full-length batches), same GPU.
The GPU's matrix-product rate is measured in the same run (fp32, TF32, bf16, fp16), and every
contender's share of it is reported. Where onnxruntime has no CUDA EP, the PyTorch contenders
still run and the report says why onnxruntime did not. The report is rewritten after every row,
so a run cut short keeps what it measured. Run through bench/gpu.sh.

  gpu_bench.py --work DIR --out FILE [--batches 64,256,1024] [--reps 10] [--peak-fp32 T --peak-fp16 T]
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
from pinnerformer.model import PinnerFormer  # noqa: E402

# Dense peaks in TFLOPS (fp32 without TF32, fp16 tensor cores, TF32 tensor cores), from the
# vendors' datasheets (dense, not the 2:4-sparsity figures); T4 has no TF32.
PEAKS = {"A10G": (31.2, 125.0, 62.5), "A10": (31.2, 125.0, 62.5), "L4": (30.3, 121.0, 60.0), "T4": (8.1, 65.0, 0.0),
         "A100": (19.5, 312.0, 156.0), "H100": (67.0, 989.0, 494.7), "H200": (67.0, 989.0, 494.7),
         "L40S": (91.6, 362.0, 183.0)}
PAPER = replace(ModelConfig(), layers=6, hidden=768, heads=8, embedding=256, item_vector=256, max_length=256)
# --dry-run: the same steps on the CPU with a model small enough for a test
TINY = replace(ModelConfig(), layers=2, hidden=32, heads=4, embedding=16, item_vector=8, max_length=16)


def log(message: str) -> None:
    print(f"[gpu_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def flops_per_user(cfg: ModelConfig, length: int) -> float:
    """Same count as bench/flops.ts (lastBlockAtLastPosition): input projection; per layer QKV, full
    L x L scores, attention x V, output projection and FFN; the last block's keys and values at every
    position but its query, attention row, projection and FFN at the last one; then the head."""
    h, l = cfg.hidden, length
    in_w = cfg.item_vector + cfg.id_dim + cfg.action_dim + cfg.surface_dim + 2 * cfg.time_dims + 4
    layer = 2 * l * h * 3 * h + 4 * l * l * h + 2 * l * h * h + 16 * l * h * h
    last = 2 * l * h * 2 * h + 2 * h * h + 4 * l * h + 2 * h * h + 16 * h * h
    blocks = (cfg.layers - 1) * layer + last if cfg.layers else 0
    return 2 * l * in_w * h + blocks + 8 * h * h + 8 * h * cfg.embedding


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


def heavy_tailed_lengths(users: int, max_length: int, seed: int = 1) -> np.ndarray:
    """Sequence lengths shaped like the synthetic data's (reports/bench.md: p50 30, p90 143, mean
    ~54 at M 256): log-normal through those two quantiles (scaled by M / 256), clamped to [1, M]."""
    scale = max_length / 256
    mu, sigma = np.log(30.0 * scale), (np.log(143.0) - np.log(30.0)) / 1.2816
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.lognormal(mu, sigma, users)), 1, max_length).astype(np.int64)


def plan_batches(lengths: np.ndarray, max_batch: int, max_tokens: int) -> list[np.ndarray]:
    """src/inference/embedder.ts planBatches: sort by length, cut where either limit would be passed."""
    order = np.argsort(lengths, kind="stable")
    batches, current = [], []
    for i in order:
        if current and (len(current) >= max_batch or (len(current) + 1) * int(lengths[i]) > max_tokens):
            batches.append(np.array(current))
            current = []
        current.append(i)
    if current:
        batches.append(np.array(current))
    return batches


# (users per batch, positions per batch): the pipeline's CPU and CUDA defaults
# (src/inference/embedder.ts BATCH_DEFAULTS), larger GPU limits, and padding every user to M
BUCKET_PLANS = {"cpu-default 64/4096": (64, 4096), "cuda-default 512/65536": (512, 65_536),
                "2048/262144": (2048, 262_144), "padded to M, 512": (512, 0)}


def bucketed_rows(model, cfg: ModelConfig, device: str, users: int, reps: int) -> list[dict]:  # noqa: ANN001
    """Effective users/s over a day's worth of heavy-tailed lengths, per batch plan and precision."""
    lengths = heavy_tailed_lengths(users, cfg.max_length)
    full = {k: torch.from_numpy(v).to(device) for k, v in inputs(cfg, users, cfg.max_length, seed=2).items()}
    rows = []
    for plan, (max_batch, max_tokens) in BUCKET_PLANS.items():
        if max_tokens:
            batches = plan_batches(lengths, max_batch, max_tokens)
        else:
            batches = [np.arange(i, min(i + max_batch, users)) for i in range(0, users, max_batch)]
        # the inputs of every batch, cut to its own longest sequence (M when padded), made ahead
        feeds = []
        padded = 0
        for idx in batches:
            width = cfg.max_length if not max_tokens else int(lengths[idx].max())
            padded += len(idx) * width
            sel = torch.from_numpy(idx).to(device)
            feed = [full[n][sel][:, :width] if full[n].dim() > 1 else full[n][sel] for n in INPUT_NAMES]
            feed[-1] = torch.from_numpy(lengths[idx]).to(device)
            feeds.append(feed)
        for label, dtype in (("fp32", None), ("bf16-autocast", torch.bfloat16)):
            def run(dtype=dtype) -> None:  # noqa: ANN001
                with torch.inference_mode(), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
                    for feed in feeds:
                        model(*feed)
            seconds = median_seconds(run, reps, device, warmup=1)
            rows.append({"plan": plan, "precision": label, "users": users, "batches": len(batches),
                         "paddedTokens": padded, "realTokens": int(lengths.sum()), "usersPerSec": users / seconds})
            log(f"bucketing {plan} {label}: {len(batches)} batches, {users / seconds:.0f} users/s")
        del feeds
    return rows


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


def median_seconds(fn, reps: int, device: str, warmup: int = 2, warm_seconds: float = 0.0) -> float:  # noqa: ANN001
    """Median wall time of fn, the device synchronized around each call. Warm-up runs `warmup`
    times and for at least `warm_seconds` (an idle GPU's clocks take a moment to rise)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    started = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - started < warm_seconds:
        fn()
        sync()
        done += 1
    seconds = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        sync()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def gemm_key(contender: str) -> str:
    """The measured matrix-product rate a contender is set against: its precision's."""
    return next((k for k in ("tf32", "bf16", "fp16") if k in contender), "fp32")


def gemm_rates(device: str, n: int, reps: int) -> dict[str, float]:
    """TFLOP/s of one n x n x n matrix product per precision, on random data (zeros run faster)."""
    rates = {}
    for label, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True),
                               ("bf16", torch.bfloat16, False), ("fp16", torch.float16, False)):
        set_tf32(tf32)
        try:
            a = torch.randn(n, n, device=device).to(dtype)
            b = torch.randn(n, n, device=device).to(dtype)
            seconds = median_seconds(lambda a=a, b=b: torch.mm(a, b), reps, device, warm_seconds=1.0 if device == "cuda" else 0.0)
            rates[label] = 2 * n**3 / seconds / 1e12
            del a, b
        except Exception as error:  # noqa: BLE001 - e.g. no fp16 matmul on some CPUs
            log(f"GEMM {label} failed: {error}")
    set_tf32(False)
    return rates


def sig(value: float) -> float:
    """Four significant digits (a dry run's CPU rates are far below 1 TFLOP/s)."""
    return float(f"{value:.4g}")


def set_tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def onnxruntime_cuda_status() -> dict:
    providers = ort.get_available_providers()
    ok = "CUDAExecutionProvider" in providers
    return {
        "available": ok, "providers": providers, "package": ort.__version__,
        "reason": None if ok else (
            "this onnxruntime build has no CUDAExecutionProvider (the CPU-only 'onnxruntime' package; "
            "the CUDA build is 'onnxruntime-gpu', and onnxruntime-node fetches its CUDA libraries at install)"
        ),
    }


def cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.min(np.sum(a * b, axis=1)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batches", default="64,256,1024,4096")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--gemm-size", type=int, default=8192)
    p.add_argument("--bucket-users", type=int, default=16384, help="users of the heavy-tailed length day (0: skip)")
    p.add_argument("--peak-fp32", type=float, default=0.0, help="TFLOPS; default from the GPU name")
    p.add_argument("--peak-fp16", type=float, default=0.0)
    p.add_argument("--dry-run", action="store_true", help="run every step on the CPU with a tiny model")
    p.add_argument("--no-onnxruntime", action="store_true", help="PyTorch contenders only")
    p.add_argument("--compile", action="store_true",
                   help="add torch.compile'd bf16 (what kernel fusion gains over eager); not in the dry run")
    args = p.parse_args()
    cfg, device, provider = (TINY, "cpu", "CPUExecutionProvider") if args.dry_run else (PAPER, "cuda", "CUDAExecutionProvider")
    if args.dry_run:
        args.batches, args.reps, args.gemm_size, args.bucket_users = "2", 1, 128, min(args.bucket_users, 600)
    elif not torch.cuda.is_available():
        raise SystemExit("PyTorch sees no CUDA device")
    cuda_ep = onnxruntime_cuda_status()
    # the dry run checks the onnxruntime steps on the CPU provider whatever this build has
    use_ort = not args.no_onnxruntime and (args.dry_run or cuda_ep["available"])
    if not use_ort and not args.no_onnxruntime:
        log(f"onnxruntime {ort.__version__}: no CUDA EP ({cuda_ep['providers']}); measuring PyTorch only")
    name = "CPU (dry run)" if args.dry_run else torch.cuda.get_device_name(0)
    # longest names first: "A10" is a prefix of "A100", "L4" of "L40S"
    peak32, peak16, peak_tf32 = next((PEAKS[k] for k in sorted(PEAKS, key=len, reverse=True) if k in name), (0.0, 0.0, 0.0))
    peak32, peak16 = args.peak_fp32 or peak32, args.peak_fp16 or peak16
    log(f"GPU {name}; datasheet fp32 {peak32} / fp16 {peak16} TFLOPS; onnxruntime {ort.__version__}, torch {torch.__version__}")

    gemm = gemm_rates(device, args.gemm_size, args.reps)
    log("measured GEMM TFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in gemm.items()))
    report = {
        "createdAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gpu": name, "peakTflops": {"fp32": peak32, "fp16": peak16, "tf32": peak_tf32},
        "measuredGemmTflops": {k: sig(v) for k, v in gemm.items()}, "gemmSize": args.gemm_size,
        "onnxruntime": ort.__version__, "onnxruntimeCuda": cuda_ep, "torch": torch.__version__,
        "model": (
            f"{cfg.layers}x{cfg.hidden}, D {cfg.embedding}, M {cfg.max_length}, random weights; full-length batches"
            + (" (dry run on the CPU: checks the script, measures nothing)" if args.dry_run else "")
        ),
        "flopsPerUser": flops_per_user(cfg, cfg.max_length),
        "cpuFallback": {}, "rows": [],
        "note": ("medians of --reps timed runs after 2 warm-ups; onnxruntime through its Python API (same engine as "
                 "onnxruntime-node), its timings include host<->device copies as the pipeline's session.run does; "
                 "PyTorch's inputs are already on the GPU"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every row: a run cut short keeps what it measured
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    args.work.mkdir(parents=True, exist_ok=True)
    sessions = {}
    if use_ort:
        model_dir = args.work / f"model-{cfg.layers}x{cfg.hidden}"
        random_dir(model_dir, cfg, seed=0)
        log(f"exported the {cfg.layers}x{cfg.hidden} model; building the fp16 graph")
        model = load_model_dir(model_dir).model.eval().to(device)
        graphs = {"onnxruntime-fp32": model_dir / "model.onnx", "onnxruntime-fp16": None}
        # the CPU-tuned graph (ONNX Attention op, opset 23): whether CUDA runs it without CPU fallback
        # decides if the Batch container could use it too (it runs the portable model.onnx today)
        if (model_dir / "model.cpu.onnx").exists():
            graphs["onnxruntime-fp32-attention-op"] = model_dir / "model.cpu.onnx"
        for label, path in graphs.items():
            try:
                path = path or fp16_model(model_dir, args.work, cfg)
                # the dry run's CPU provider cannot also forbid CPU fallback (onnxruntime refuses the pair)
                sessions[label] = ort_session(path, no_cpu_fallback=not args.dry_run, provider=provider)
                report["cpuFallback"][label] = "none needed"
            except Exception as error:  # noqa: BLE001 - recorded: the pipeline's CUDA mode would refuse this graph
                report["cpuFallback"][label] = f"needs CPU fallback: {str(error).splitlines()[0][:200]}"
                try:
                    sessions[label] = ort_session(path, no_cpu_fallback=False, provider=provider)
                except Exception as again:  # noqa: BLE001 - e.g. fp16 kernels missing on the dry run's CPU
                    report["cpuFallback"][label] = f"does not open: {str(again).splitlines()[0][:200]}"
            log(f"{label}: {report['cpuFallback'][label]}")
    else:
        torch.manual_seed(0)  # the same random weights random_dir would export
        model = PinnerFormer(cfg).eval().to(device)
    save()
    # one compile for every batch size (dynamic shapes); the first call, a warm-up, pays for it
    compiled = torch.compile(model, dynamic=True) if args.compile and not args.dry_run else None

    for batch in [int(b) for b in args.batches.split(",")]:
        feeds = inputs(cfg, batch, cfg.max_length)
        tensors = tuple(torch.from_numpy(feeds[n]).to(device) for n in INPUT_NAMES)
        flop = flops_per_user(cfg, cfg.max_length) * batch
        outs = {}

        def torch_run(dtype: torch.dtype | None, key: str, module=model):  # noqa: ANN001, ANN202
            def run() -> None:
                with torch.inference_mode(), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
                    outs[key] = module(*tensors).float()
            return run

        # label -> (run, TF32 on, datasheet peak, measured GEMM key)
        contenders = {
            "pytorch-fp32": (torch_run(None, "pytorch-fp32"), False, peak32),
            "pytorch-tf32": (torch_run(None, "pytorch-tf32"), True, peak_tf32),
            "pytorch-bf16-autocast": (torch_run(torch.bfloat16, "pytorch-bf16-autocast"), False, peak16),
            "pytorch-fp16-autocast": (torch_run(torch.float16, "pytorch-fp16-autocast"), False, peak16),
        }
        if compiled is not None:
            contenders["pytorch-bf16-compiled"] = (torch_run(torch.bfloat16, "pytorch-bf16-compiled", compiled), False, peak16)
        for label, session in sessions.items():
            def run(session=session, label=label) -> None:  # noqa: ANN001
                outs[label] = session.run(["embedding"], feeds)[0]
            contenders[label] = (run, False, peak32 if "fp32" in label else peak16)
        for label, (fn, tf32, peak) in contenders.items():
            set_tf32(tf32)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            try:
                seconds = median_seconds(fn, args.reps, device)
            except Exception as error:  # noqa: BLE001 - e.g. out of memory at a large batch
                report["rows"].append({"batch": batch, "contender": label, "error": str(error)[:300]})
                log(f"batch {batch} {label} FAILED: {error}")
                save()
                continue
            finally:
                set_tf32(False)
            ref, out = outs.get("pytorch-fp32"), outs[label]
            out = out.cpu().numpy() if isinstance(out, torch.Tensor) else out
            ref = ref.cpu().numpy() if isinstance(ref, torch.Tensor) else ref
            tflops = flop / seconds / 1e12
            report["rows"].append({
                "batch": batch, "contender": label, "usersPerSec": batch / seconds, "tflops": tflops,
                "peakFraction": tflops / peak if peak else None,
                "measuredGemmFraction": tflops / gemm[gemm_key(label)] if gemm.get(gemm_key(label)) else None,
                "gpuMemoryGiB": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
                "cosineMinVsPytorchFp32": cosine_min(ref, out) if ref is not None else None,
            })
            log(f"batch {batch} {label}: {batch / seconds:.1f} users/s, {tflops:.1f} TFLOP/s")
            save()
        del tensors
        if device == "cuda":
            torch.cuda.empty_cache()
    if args.bucket_users:
        lengths = heavy_tailed_lengths(args.bucket_users, cfg.max_length)
        report["bucketing"] = {
            "note": ("PyTorch over one day of heavy-tailed lengths (log-normal, p50 30, p90 143, clamped to M); "
                     "batches planned as src/inference/embedder.ts planBatches does; inputs on the GPU"),
            "meanLength": float(lengths.mean()),
            "rows": bucketed_rows(model, cfg, device, args.bucket_users, max(1, args.reps // 3)),
        }
        save()
    # the rate again, the GPU now warm: one probe can land low (seen on an H200: bf16 793, then 551
    # TFLOP/s in another session), so fractions are taken of the higher of the two, as bench/main.ts does
    after = gemm_rates(device, args.gemm_size, args.reps)
    log("measured GEMM TFLOP/s again: " + ", ".join(f"{k} {v:.1f}" for k, v in after.items()))
    best = {k: max(gemm.get(k, 0.0), after.get(k, 0.0)) for k in {*gemm, *after}}
    report["measuredGemmRounds"] = [{k: sig(v) for k, v in r.items()} for r in (gemm, after)]
    report["measuredGemmTflops"] = {k: sig(v) for k, v in sorted(best.items())}
    for row in report["rows"]:
        if "error" not in row:
            key = gemm_key(row["contender"])
            row["measuredGemmFraction"] = row["tflops"] / best[key] if best.get(key) else None
    save()
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
