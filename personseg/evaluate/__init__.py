"""Evaluation: quality on the held-out split and latency of several models side by side."""
