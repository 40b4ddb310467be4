"""The load test's reading of the server's inference counters from a real ``/metrics`` exposition."""

import pytest

from personseg.bench.scrape import InferenceCounters, parse_counters
from personseg.errors import UserError
from personseg.serving.prometheus import ServerMetrics


def test_counters_are_the_histograms_sums_and_counts_and_subtract():
    metrics = ServerMetrics(max_batch=8)
    metrics.observe_batch(3, 0.25)
    before = parse_counters(metrics.render().decode())
    metrics.observe_batch(8, 0.5)
    metrics.observe_batch(1, 0.125)
    after = parse_counters(metrics.render().decode())
    assert before == InferenceCounters(images=3, batches=1, seconds=0.25)
    assert after - before == InferenceCounters(images=9, batches=2, seconds=0.625)


def test_an_exposition_without_the_counters_names_what_is_missing():
    with pytest.raises(UserError, match="personseg_batch_size_sum.*personseg_inference_duration_seconds_sum"):
        parse_counters("# TYPE other_total counter\nother_total 1.0\n")
