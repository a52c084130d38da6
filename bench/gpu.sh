#!/usr/bin/env bash
# GPU benchmark of the paper-size model (6 x 768, D 256, M 256): onnxruntime CUDA EP in fp32 and
# fp16 against PyTorch (fp32 and fp16 autocast) on the same GPU, same inputs. Writes
# reports/bench-gpu.json. Bounded to 10 minutes. Every step also runs on the CPU with a tiny model
# (`gpu_bench.py --dry-run`, in `make test`: training/tests/test_gpu_bench.py), so the script is
# known to work before a GPU session spends its minutes on it.
#
# Needs a Python with CUDA builds of torch and onnxruntime-gpu (same major version as
# onnxruntime-node in package.json) and the training package on PYTHONPATH:
#   PYTHON=/path/to/python bench/gpu.sh            # default: training/.venv/bin/python
# Environment: WORK (scratch folder, default /tmp/pf-gpu-bench), OUT (default reports/bench-gpu.json),
# BATCHES (default 16,64,128), REPS (default 5), PEAK_FP32 / PEAK_FP16 (TFLOPS, when the GPU is
# not in gpu_bench.py's table).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-training/.venv/bin/python}"
WORK="${WORK:-/tmp/pf-gpu-bench}"
OUT="${OUT:-reports/bench-gpu.json}"

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PYTHON" - <<'PY'
import sys
import torch, onnxruntime as ort
problems = []
if not torch.cuda.is_available():
    problems.append(f"torch {torch.__version__} has no CUDA device (install a CUDA build of torch)")
if "CUDAExecutionProvider" not in ort.get_available_providers():
    problems.append(f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (pip install onnxruntime-gpu)")
if problems:
    sys.exit("gpu.sh cannot run:\n  " + "\n  ".join(problems))
print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}; onnxruntime {ort.__version__}", file=sys.stderr)
PY
PYTHONPATH=training timeout 570 "$PYTHON" bench/python/gpu_bench.py --work "$WORK" --out "$OUT" \
  --batches "${BATCHES:-16,64,128}" --reps "${REPS:-5}" \
  ${PEAK_FP32:+--peak-fp32 "$PEAK_FP32"} ${PEAK_FP16:+--peak-fp16 "$PEAK_FP16"}
echo "wrote $OUT" >&2
