"""Benchmarks of rowcast: decode throughput, latency, fan-out and slow clients."""
