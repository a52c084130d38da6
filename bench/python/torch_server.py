"""PyTorch eager side of the inference benchmark, as a JSON-lines server on stdin/stdout.

The Node benchmark keeps this process open and alternates requests with its own onnxruntime
runs, so both frameworks see the same machine state (the machine is noisy), the same inputs
(batches written by the TypeScript featurizer) and the same thread count.

Requests (one JSON object a line) and replies:
  {"op": "load", "key": k, "dir": modelDir}                -> {"ok": true, "params": n}
  {"op": "run", "key": k, "batch": dir, "reps": n, "out"?: path}
                                                           -> {"ok": true, "seconds": [...]}
      batch dir: meta.json {"inputs": [{"name", "dtype", "shape"}]} and <name>.bin (raw, little endian);
      "out" receives the embeddings of the first rep as raw float32.
  {"op": "gemm", "m": M, "k": K, "n": N, "reps": n}        -> {"ok": true, "seconds": [...]}
  {"op": "quit"}
Errors reply {"ok": false, "error": "..."}. Usage: torch_server.py THREADS (PYTHONPATH=training).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pinnerformer.export import load_model_dir
from pinnerformer.features import INPUT_NAMES

DTYPES = {"float32": np.float32, "int64": np.int64}


def read_batch(directory: Path) -> tuple[torch.Tensor, ...]:
    meta = json.loads((directory / "meta.json").read_text())
    by_name = {}
    for entry in meta["inputs"]:
        array = np.fromfile(directory / f"{entry['name']}.bin", dtype=DTYPES[entry["dtype"]])
        by_name[entry["name"]] = torch.from_numpy(array.reshape(entry["shape"]))
    return tuple(by_name[name] for name in INPUT_NAMES)


class Server:
    def __init__(self) -> None:
        self.models: dict[str, torch.nn.Module] = {}
        self.batches: dict[str, tuple[torch.Tensor, ...]] = {}

    def handle(self, req: dict) -> dict:
        op = req["op"]
        if op == "load":
            model = load_model_dir(req["dir"]).model.eval()
            self.models[req["key"]] = model
            return {"ok": True, "params": sum(p.numel() for p in model.parameters())}
        if op == "run":
            model = self.models[req["key"]]
            batch = self.batches.get(req["batch"])
            if batch is None:
                self.batches.clear()  # one batch at a time: bounded memory
                batch = self.batches[req["batch"]] = read_batch(Path(req["batch"]))
            seconds = []
            with torch.inference_mode():
                for rep in range(int(req.get("reps", 1))):
                    started = time.perf_counter()
                    out = model(*batch)  # [B, D]
                    seconds.append(time.perf_counter() - started)
                    if rep == 0 and req.get("out"):
                        out.numpy().astype(np.float32).tofile(req["out"])
            return {"ok": True, "seconds": seconds}
        if op == "gemm":
            g = torch.Generator().manual_seed(0)
            a = torch.randn(req["m"], req["k"], generator=g)
            b = torch.randn(req["k"], req["n"], generator=g)
            seconds = []
            for _ in range(int(req.get("reps", 3))):
                started = time.perf_counter()
                torch.mm(a, b)
                seconds.append(time.perf_counter() - started)
            return {"ok": True, "seconds": seconds}
        raise ValueError(f"unknown op {op!r}")


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    server = Server()
    print(json.dumps({"ok": True, "ready": True, "torch": torch.__version__, "threads": threads}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("op") == "quit":
            break
        try:
            reply = server.handle(req)
        except Exception as error:  # noqa: BLE001 - reported to the caller, which decides
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
