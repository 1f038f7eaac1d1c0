"""Latency benchmark: catsplit's Runtime vs a bare onnxruntime session vs PyTorch eager.

`python -m benchmarks.latency` (see __main__) builds the models' artifacts, measures every
configuration in its own subprocess (worker.py, so peak memory is per configuration) and writes
benchmarks/results/latency.md and latency.png.
"""
