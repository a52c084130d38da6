"""bench/gpu.sh's Python part, run as --dry-run (CPU, tiny model): every step of the GPU benchmark
executes here, so the script is known to work before a GPU session spends its minutes on it."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dry_run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "bench-gpu.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "training")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench/python/gpu_bench.py"), "--dry-run", "--work", str(tmp_path), "--out", str(out), *extra],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_gpu_bench_dry_run_runs_every_contender(tmp_path):
    report = dry_run(tmp_path)
    rows = {r["contender"]: r for r in report["rows"]}
    expected = {"pytorch-fp32", "pytorch-tf32", "pytorch-bf16-autocast", "pytorch-fp16-autocast",
                "onnxruntime-fp32", "onnxruntime-fp16", "onnxruntime-fp32-attention-op"}
    assert set(rows) == expected
    assert all("error" not in r and r["usersPerSec"] > 0 for r in rows.values()), rows
    # both fp32 graphs compute PyTorch's function; the fp16 ones stay close
    for name in ("onnxruntime-fp32", "onnxruntime-fp32-attention-op"):
        assert rows[name]["cosineMinVsPytorchFp32"] > 0.99999
    for name in ("onnxruntime-fp16", "pytorch-fp16-autocast", "pytorch-bf16-autocast"):
        assert rows[name]["cosineMinVsPytorchFp32"] > 0.99
    # the matrix-product rate is measured in the same run, and each row is set against it
    assert set(report["measuredGemmTflops"]) >= {"fp32", "bf16"}
    assert all(v > 0 for v in report["measuredGemmTflops"].values())
    assert rows["pytorch-fp32"]["measuredGemmFraction"] > 0
    # a heavy-tailed day under each batch plan: bucketing pads less than padding every user to M
    plans = {(r["plan"], r["precision"]): r for r in report["bucketing"]["rows"]}
    assert len(plans) == 8 and all(r["usersPerSec"] > 0 for r in plans.values())
    padded = plans[("padded to M, 512", "fp32")]
    bucketed = plans[("cpu-default 64/4096", "fp32")]
    assert bucketed["paddedTokens"] < padded["paddedTokens"] == padded["users"] * 16
    assert bucketed["realTokens"] == padded["realTokens"] <= bucketed["paddedTokens"]
    assert set(report["cpuFallback"]) == {"onnxruntime-fp32", "onnxruntime-fp16", "onnxruntime-fp32-attention-op"}


def test_gpu_bench_without_onnxruntime_still_measures_pytorch(tmp_path):
    # the path a GPU machine whose onnxruntime has no CUDA EP takes: no export, PyTorch rows only
    report = dry_run(tmp_path, "--no-onnxruntime")
    rows = {r["contender"]: r for r in report["rows"]}
    assert set(rows) == {"pytorch-fp32", "pytorch-tf32", "pytorch-bf16-autocast", "pytorch-fp16-autocast"}
    assert report["cpuFallback"] == {}
    assert not any(tmp_path.glob("model-*")), "no ONNX export when onnxruntime is not measured"
    assert "available" in report["onnxruntimeCuda"]
