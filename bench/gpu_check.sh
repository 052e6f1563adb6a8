#!/usr/bin/env bash
# GPU check: predict p50 and frames/s (batch 1, fp32 and bf16; and fp32 under onnxruntime with its
# CUDA/TensorRT providers when installed), train steps/s and memory peak.
# Usage: bench/gpu_check.sh [--device cuda|cpu] [--seconds N] [--quick] [--threads N] [--json FILE]
# Uses the repository's .venv (LOC_PYTHON overrides); see bench/gpu_check.py for what is measured.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${LOC_PYTHON:-$root/.venv/bin/python}"
if [ ! -x "$python" ]; then
    echo "gpu_check.sh: no Python at $python (run 'make setup', or set LOC_PYTHON)" >&2
    exit 2
fi
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec "$python" "$root/bench/gpu_check.py" "$@"
