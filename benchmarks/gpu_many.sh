#!/usr/bin/env bash
# One short GPU check for issue 22 (many GANs at once, the CUDA-graph step), for a session that is
# lent a GPU: the CUDA tests, then the benchmark. Run from the repository root with gankit
# installed (pip install torch==<a CUDA build> && pip install -e ".[dev]"); results go to $OUT.
set -u
OUT=${OUT:-/tmp/gpu_many}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python -m pytest -q -p no:cacheprovider tests/engine/test_cuda_graph.py tests/engine/test_members.py \
    tests/runs/test_group.py 2>&1 | tail -15 | tee "$OUT/tests.txt"
python benchmarks/many.py --device cuda --nets paper,dcgan32 --members 1,8,64,256 --repeats 3 \
    --threads 4 2>&1 | tee "$OUT/many_cuda.jsonl"
