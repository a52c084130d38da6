#!/usr/bin/env bash
# One GPU session, bounded to 11 minutes (5 + 1.5 + 2.5 + 2), in four steps that each keep their results if a
# later one fails:
#   1. inference: the paper-size model (6 x 768, D 256, M 256) in PyTorch fp32, TF32, bf16 and fp16
#      on the GPU, bf16 through torch.compile, and onnxruntime's CUDA EP (fp32, fp16) where this
#      Python's onnxruntime has one, against the GPU's matrix-product rate measured in the same run;
#      then a day of heavy-tailed sequence lengths under the pipeline's batch plans -> bench-gpu.json
#   2. training check: the ablation's dense-all-action configuration trained on CUDA (bf16), to set
#      its recall and time beside the CPU's in reports/ablation.json -> bench-gpu-train.json
#   3. paper-size training: 100 steps of the 6 x 768 model on CUDA, then the model directory export
#      (both ONNX graphs, parity-checked) -> bench-gpu-paper-manifest.json
#   4. the Batch container's own path: onnxruntime-node with the CUDA EP on step 1's graphs
#      (bench/gpu-node.ts), when `node` and onnxruntime-node's CUDA libraries are on the machine
#      (ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci, or the libraries copied in) -> bench-gpu-node.json
# `npm run bench -- --render` folds these files into reports/bench.md and the cost projection.
#
# Every step of 1 also runs on the CPU with a tiny model (`gpu_bench.py --dry-run`, in `make test`:
# training/tests/test_gpu_bench.py), so the script is known to work before a GPU session spends
# its minutes on it.
#
#   PYTHON=/path/to/python bench/gpu.sh      # default: training/.venv/bin/python, else python3
# Environment: REPORTS (output folder, default reports), WORK (scratch, default /tmp/pf-gpu-bench),
# BATCHES (default 64,256,1024,4096), REPS (default 10), PEAK_FP32 / PEAK_FP16 (datasheet TFLOPS, when
# the GPU is not in gpu_bench.py's table). Needs the ablation's data set in training/runs/ablation-data
# for steps 2 and 3 (`make ablation` or `python -m pinnerformer.ablation --only dense_all_action` makes it).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$([ -x training/.venv/bin/python ] && echo training/.venv/bin/python || echo python3)}"
REPORTS="${REPORTS:-reports}"
WORK="${WORK:-/tmp/pf-gpu-bench}"
export PYTHONPATH="$PWD/training${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$REPORTS" "$WORK"
started=$SECONDS
say() { echo "[gpu.sh $((SECONDS - started))s] $*" >&2; }
# tqdm redraws its bar with carriage returns: keep every 20th state of it, one per line
progress() { tr '\r' '\n' | awk '/%\|/ { if (n++ % 20) next } { print }' >&2; }

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
"$PYTHON" - <<'PY' || exit 1
import sys
import torch, onnxruntime as ort
if not torch.cuda.is_available():
    sys.exit(f"gpu.sh cannot run: torch {torch.__version__} sees no CUDA device (install a CUDA build of torch)")
cuda_ep = "CUDAExecutionProvider" in ort.get_available_providers()
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) on {torch.cuda.get_device_name(0)}; onnxruntime "
      f"{ort.__version__} {'with' if cuda_ep else 'WITHOUT'} the CUDA EP {ort.get_available_providers()}", file=sys.stderr)
PY

say "1/4 inference benchmark"
timeout 300 "$PYTHON" bench/python/gpu_bench.py --work "$WORK" --out "$REPORTS/bench-gpu.json" --compile \
  --batches "${BATCHES:-64,256,1024,4096}" --reps "${REPS:-10}" \
  ${PEAK_FP32:+--peak-fp32 "$PEAK_FP32"} ${PEAK_FP16:+--peak-fp16 "$PEAK_FP16"}
bench_rc=$?

say "2/4 training check: the ablation's dense all action on CUDA"
timeout 90 "$PYTHON" -m pinnerformer.ablation --only dense_all_action --device cuda >"$WORK/train.jsonl" 2> >(progress)
train_rc=$?
[ -s "$WORK/train.jsonl" ] && tail -n 1 "$WORK/train.jsonl" >"$REPORTS/bench-gpu-train.json"

say "3/4 paper-size training (100 steps) and export"
rm -rf "$WORK/paper-model"
timeout 150 "$PYTHON" -m pinnerformer.train --data training/runs/ablation-data --out "$WORK/paper-model" \
  --checkpoint "$WORK/paper.ckpt" --layers 6 --hidden 768 --heads 8 --embedding 256 --max-length 256 \
  --steps 100 --device cuda 2> >(progress)
paper_rc=$?
[ -f "$WORK/paper-model/manifest.json" ] && cp "$WORK/paper-model/manifest.json" "$REPORTS/bench-gpu-paper-manifest.json"

say "4/4 the container's path: onnxruntime-node with the CUDA EP"
node_rc=0
if command -v node >/dev/null && [ -f "$WORK/model-6x768/manifest.json" ]; then
  fp16=()
  [ -f "$WORK/fused-fp16.onnx" ] && fp16=(--fp16 "$WORK/fused-fp16.onnx")
  timeout 120 node --import tsx bench/gpu-node.ts --model "$WORK/model-6x768" "${fp16[@]}" \
    --batches "${BATCHES:-64,256,1024,4096}" --reps "${REPS:-10}" --out "$REPORTS/bench-gpu-node.json"
  node_rc=$?
else
  say "skipped: needs node on this machine and step 1's model directory ($WORK/model-6x768)"
fi

say "done: inference rc=$bench_rc, training check rc=$train_rc, paper-size training rc=$paper_rc, node rc=$node_rc"
"$PYTHON" - "$REPORTS" <<'PY'
import json, sys
from pathlib import Path
reports = Path(sys.argv[1])
bench = reports / "bench-gpu.json"
if bench.exists():
    r = json.loads(bench.read_text())
    print(f"{r['gpu']}: GEMM TFLOP/s {r['measuredGemmTflops']}; onnxruntime CUDA EP: {r['onnxruntimeCuda']['available']}")
    for row in r["rows"]:
        if "error" in row:
            print(f"  batch {row['batch']:>5} {row['contender']:<30} ERROR {row['error'][:80]}")
        else:
            print(f"  batch {row['batch']:>5} {row['contender']:<30} {row['usersPerSec']:>9.0f} users/s "
                  f"{row['tflops']:>6.1f} TFLOP/s {100 * (row['measuredGemmFraction'] or 0):>5.1f}% of GEMM "
                  f"cos {row['cosineMinVsPytorchFp32']:.5f}")
train = reports / "bench-gpu-train.json"
if train.exists():
    t = json.loads(train.read_text())
    print(f"training check: R@10 {t['recall_at_10']:.4f}, train {t['train_seconds']} s, eval {t['eval_seconds']} s")
manifest = reports / "bench-gpu-paper-manifest.json"
if manifest.exists():
    m = json.loads(manifest.read_text())
    print(f"paper-size model: {m['modelVersion']}, train {m['training']['seconds']} s, eval {m.get('eval')}")
PY
[ "$bench_rc" -eq 0 ] && [ "$train_rc" -eq 0 ] && [ "$paper_rc" -eq 0 ]
