"""The load test's reading of the server's inference counters from a real ``/metrics`` exposition."""

import pytest

from personseg.bench.scrape import InferenceCounters, parse_counters, parse_segment_counters
from personseg.errors import UserError
from personseg.serving.prometheus import ServerMetrics
from personseg.serving.timeline import STAGES


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


def test_segment_counters_give_the_route_mean_and_each_stage_mean_per_answered_request():
    metrics = ServerMetrics(max_batch=8)
    before = parse_segment_counters(metrics.render().decode())
    for seconds in (0.010, 0.030):
        metrics.latency.labels("/v1/segment").observe(seconds)
        metrics.observe_stages({stage: seconds / len(STAGES) for stage in STAGES})
    metrics.latency.labels("/v2/models/{name}/infer").observe(5.0)  # another route's time is not counted
    used = parse_segment_counters(metrics.render().decode()) - before
    assert used.route_mean_ms() == pytest.approx(20.0)
    assert used.stage_means_ms() == pytest.approx({stage: 20.0 / len(STAGES) for stage in STAGES})


def test_an_exposition_without_stage_times_is_refused():
    text = ServerMetrics(max_batch=8).render().decode()
    without = "\n".join(line for line in text.splitlines() if "personseg_segment_stage_seconds" not in line)
    with pytest.raises(UserError, match="personseg_segment_stage_seconds"):
        parse_segment_counters(without + "\n")
