"""Benchmark library: the server load test (``personseg bench serve``) and the peer stacks (``benchmarks/peers.py``).

Scripts under ``benchmarks/`` stay thin: they parse arguments and call this package.
"""
