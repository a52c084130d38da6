"""Where inference time goes, per operator: onnxruntime's profiler over one or more ONNX graphs and
PyTorch's profiler over the model directory's eager forward, on one featurized batch directory
(bench/inputs.ts writeBatch: meta.json + <name>.bin, e.g. .pinnerformer/bench/batch-demo-32).

    PYTHONPATH=training training/.venv/bin/python bench/python/profile_ops.py \
        --batch .pinnerformer/bench/batch-demo-32 --model models/demo [--onnx other.onnx ...] [--threads 2]

Same session options as src/inference/session.ts (denormals flushed, no spinning). Prints one JSON
object: per graph the milliseconds per run by operator type and the ten slowest nodes; for
PyTorch the milliseconds per run by aten op. Run it under `flock /tmp/bench.lock` on a shared
machine; it is a breakdown, not a contest (the profilers add overhead).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from pathlib import Path

import numpy as np

DTYPES = {"float32": np.float32, "int64": np.int64}


def read_batch(directory: Path) -> dict[str, np.ndarray]:
    meta = json.loads((directory / "meta.json").read_text())
    return {
        e["name"]: np.fromfile(directory / f"{e['name']}.bin", dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        for e in meta["inputs"]
    }


def profile_onnx(path: Path, feeds: dict[str, np.ndarray], threads: int, reps: int) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.set_denormal_as_zero", "1")
    so.enable_profiling = True
    so.profile_file_prefix = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"ort-profile-{os.getpid()}")
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for _ in range(2):
        session.run(None, feeds)
    session.end_profiling()  # drop the warm-up runs
    so.enable_profiling = True
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    session.run(None, feeds)  # first run allocates
    for _ in range(reps):
        session.run(None, feeds)
    trace = Path(session.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    by_op: dict[str, float] = collections.defaultdict(float)
    by_node: dict[str, float] = collections.defaultdict(float)
    node_op: dict[str, str] = {}
    run_us = 0.0
    for e in events:
        if e.get("cat") == "Session" and e.get("name") == "model_run":
            run_us += e["dur"]
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            name = e["name"][: -len("_kernel_time")]
            op = e["args"].get("op_name", "?")
            by_op[op] += e["dur"]
            by_node[name] += e["dur"]
            node_op[name] = op
    runs = reps + 1
    ms = lambda us: round(us / runs / 1000, 3)  # noqa: E731
    return {
        "msPerRun": ms(run_us),
        "byOp": {k: ms(v) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])},
        "slowestNodes": [
            {"node": k, "op": node_op[k], "ms": ms(v)} for k, v in sorted(by_node.items(), key=lambda kv: -kv[1])[:10]
        ],
    }


def profile_torch(model_dir: Path, feeds: dict[str, np.ndarray], threads: int, reps: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from pinnerformer.export import load_model_dir
    from pinnerformer.features import INPUT_NAMES

    torch.set_num_threads(threads)
    model = load_model_dir(model_dir).model.eval()
    args = tuple(torch.from_numpy(feeds[n]) for n in INPUT_NAMES)
    with torch.inference_mode():
        for _ in range(2):
            model(*args)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(reps):
                model(*args)
    rows = sorted(prof.key_averages(), key=lambda r: -r.self_cpu_time_total)
    total = sum(r.self_cpu_time_total for r in rows)
    return {
        "msPerRun": round(total / reps / 1000, 3),
        "byOp": {r.key: round(r.self_cpu_time_total / reps / 1000, 3) for r in rows[:15]},
    }


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", required=True, type=Path)
    p.add_argument("--model", required=True, type=Path, help="model directory (its model.onnx and model.pt)")
    p.add_argument("--onnx", action="append", default=[], type=Path, help="more graphs to profile")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args(argv)
    feeds = read_batch(args.batch)
    out = {"batch": str(args.batch), "threads": args.threads, "reps": args.reps, "onnxruntime": {}}
    for path in [args.model / "model.onnx", *args.onnx]:
        out["onnxruntime"][str(path)] = profile_onnx(path, feeds, args.threads, args.reps)
    out["pytorch"] = profile_torch(args.model, feeds, args.threads, args.reps)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
