"""What to evaluate: the one set of evaluate defaults, shared by ``personseg evaluate`` and the pipeline.

Light on purpose (no numpy or runtimes at import): the CLI reads its flags' defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how to time it."""

    models: tuple[str, ...]
    data: str
    batch_size: int = 8
    rounds: int = 10
    warmup: int = 2
    threads: int = 0
    baseline: str | None = None
    split: str = "test"
    measure_peak: bool = True
    extra_data: str | None = None
    extra_split: str = "all"
