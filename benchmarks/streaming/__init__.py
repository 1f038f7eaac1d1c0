"""Streaming benchmark: latency, concurrent streams, batched vs separate processes, hot swap
(`python -m benchmarks.streaming`; results in benchmarks/results/streaming.md)."""
