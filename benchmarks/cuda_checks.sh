#!/usr/bin/env bash
# The checks that need a GPU, in one run, for a machine with CUDA and torch already installed
# (the project runs from the checkout; lark comes from .wheels/ when the machine lacks it):
#   1. the tests marked cuda;
#   2. `gradproof verify --device cuda` over the whole catalog in float64 and float32, and at
#      production sizes (--size large);
#   3. benchmarks/scale.py on CUDA (attention and the encoder block up to n = 16384, d_k = 128,
#      with CPU vs CUDA agreement up to n = 2048) and the compiled-vs-autograd ratio on the GPU.
# Everything lands in ${OUT:-benchmarks/out}: log.txt and one JSON per step.
#
#     bash benchmarks/cuda_checks.sh
set -u
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
python3 -c "import lark" 2>/dev/null || python3 -m pip install -q --no-index --no-deps .wheels/*.whl
step() { echo "== $1 ($(date +%T))"; }
{
  step machine
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, sympy; print('torch', torch.__version__, 'sympy', sympy.__version__, 'cuda', torch.cuda.is_available())"
  step "tests marked cuda"
  python3 -m pytest -q -p no:cacheprovider -m cuda tests/verify/test_check.py 2>&1 | tail -5
  for dtype in float64 float32; do
    step "gradproof verify --device cuda --dtype $dtype"
    t0=$SECONDS; python3 -m gradproof verify --device cuda --dtype $dtype --json > "$OUT/verify_cuda_$dtype.json"
    echo "exit $? after $((SECONDS - t0)) s"
  done
  step "gradproof verify --device cuda --size large"
  t0=$SECONDS; python3 -m gradproof verify --device cuda --size large --examples 5 --json > "$OUT/verify_cuda_large.json"
  echo "exit $? after $((SECONDS - t0)) s"
  step "scale on cuda"
  python3 benchmarks/scale.py --device cuda --json "$OUT/scale_cuda.json"
  step "compiled vs autograd on cuda"
  python3 benchmarks/compiled_vs_autograd.py --device cuda --sizes 32 128 512 --batch 64
  step done
} 2>&1 | tee "$OUT/log.txt"
