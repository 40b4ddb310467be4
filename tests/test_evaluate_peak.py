"""The GEMM peak probe takes the best of several trials after a warm-up (timing faked: no real clock)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from personseg.evaluate.peak import best_of_trials


class FakeClock:
    """A clock that only moves when a fake GEMM runs, by the durations it is given in turn."""

    def __init__(self) -> None:
        self.now = 0.0
        self.log: list[str] = []

    def __call__(self) -> float:
        return self.now

    def gemm(self, name: str, durations: list[float]) -> Callable[[], None]:
        def run() -> None:
            self.log.append(name)
            self.now += durations.pop(0)
        return run


def test_best_of_trials_takes_each_trial_shortest_after_warmup_and_alternates() -> None:
    clock = FakeClock()
    # warm-up (0.5 s window) gets the very fastest runs: they must not count
    # (durations are powers of two apart so the fake clock adds them exactly)
    fp32 = clock.gemm("fp32", [0.0625, 0.75, 0.375, 0.25, 1.0, 0.5, 1.0])
    int8 = clock.gemm("int8", [0.0625, 0.75, 0.625, 0.5, 1.0])
    times = best_of_trials({"fp32": fp32, "int8": int8}, trials=2, seconds=1.0, warmup=0.5, clock=clock)
    assert times == {"fp32": [0.25, 0.5], "int8": [0.5, 1.0]}
    assert clock.log == ["fp32"] * 2 + ["int8"] * 2 + ["fp32"] * 3 + ["int8"] * 2 + ["fp32"] * 2 + ["int8"]


def test_every_trial_runs_at_least_once_even_with_no_time() -> None:
    clock = FakeClock()
    times = best_of_trials({"g": clock.gemm("g", [0.125] * 4)}, trials=3, seconds=0.0, warmup=0.0, clock=clock)
    assert times == {"g": [0.125] * 3} and clock.log == ["g"] * 4


def test_measure_peaks_reports_the_best_trial_and_every_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    from personseg.evaluate import peak

    monkeypatch.setattr(peak, "_gemm", lambda int8, threads: lambda: None)
    monkeypatch.setattr(peak, "best_of_trials", lambda runs, trials, seconds, warmup: {
        "fp32_gflops": [peak.FLOPS / 1e9 / 150, peak.FLOPS / 1e9 / 190], "int8_gops": [peak.FLOPS / 1e9 / 800]})
    out = peak.measure_peaks(threads=2)
    assert out["fp32_gflops"] == pytest.approx(190) and out["int8_gops"] == pytest.approx(800)
    assert out["fp32_gflops_trials"] == pytest.approx([150, 190]) and out["int8_gops_trials"] == pytest.approx([800])
