"""Runners for the peer comparison (``benchmarks/peers.py``): other INT8 and FP32 stacks on our networks."""
