"""The batch loop of ``segment``: skip what is done, run the rest a batch at a time, write each output atomically.

An output that exists is kept unless ``force`` (a rerun after an interruption only does what is left).
Each output is written to a temporary sibling and renamed into place, so a reader or a killed run never
leaves half a PNG under its final name. An image that cannot be read or decoded is reported and skipped;
the result counts it, and the command's exit status says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from personseg.segment.engine import Engine
from personseg.segment.inputs import Source


@dataclass(frozen=True)
class Failure:
    """An input that produced no output, and why."""

    name: str
    reason: str


@dataclass
class SegmentResult:
    """What a run did: outputs written, outputs kept from before, failures and the time it took."""

    written: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        """Images segmented (written or failed) per second of the run."""
        done = self.written + len(self.failures)
        return done / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """The one line printed at the end."""
        return (f"{self.written} images written, {self.skipped} already there, {len(self.failures)} failed; "
                f"{self.images_per_second:.1f} images/s")


def output_path(out: Path, src: Source) -> Path:
    """Where ``src``'s PNG goes under ``out``."""
    return out / f"{src.rel}.png"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary sibling, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


Progress = Callable[[int, int, SegmentResult], None]


def _read(src: Source) -> tuple[bytes | None, str]:
    try:
        return src.read(), ""
    except OSError as exc:
        return None, f"{src.name}: cannot read ({exc.strerror or exc})"
    except Exception as exc:  # noqa: BLE001 - storage errors name the object; any of them fails this input only
        return None, f"{src.name}: cannot read ({exc})"


def segment_all(sources: list[Source], out: Path, engine: Engine, force: bool = False,
                on_progress: Progress | None = None, on_failure: Callable[[Failure], None] | None = None
                ) -> SegmentResult:
    """Segment every source into ``out`` in batches of ``engine.batch_size``."""
    result = SegmentResult()
    todo = []
    for src in sources:
        if not force and output_path(out, src).exists():
            result.skipped += 1
        else:
            todo.append(src)
    start = time.perf_counter()

    def fail(name: str, reason: str) -> None:
        failure = Failure(name, reason)
        result.failures.append(failure)
        if on_failure is not None:
            on_failure(failure)

    for first in range(0, len(todo), engine.batch_size):
        batch = todo[first:first + engine.batch_size]
        readable, payloads = [], []
        for src in batch:
            data, reason = _read(src)
            if data is None:
                fail(src.name, reason)
            else:
                readable.append(src)
                payloads.append(data)
        outcomes = engine.run(payloads, [s.name for s in readable]) if readable else []
        for src, outcome in zip(readable, outcomes):
            if outcome.png is None:
                fail(src.name, outcome.error)
            else:
                write_atomically(output_path(out, src), outcome.png)
                result.written += 1
        result.seconds = time.perf_counter() - start
        if on_progress is not None:
            on_progress(first + len(batch), len(todo), result)
    result.seconds = time.perf_counter() - start
    return result
