"""Steps that use a few images of a dataset open only those, and validation holds no decoded dataset.

Files are counted where Pillow opens them, so any reader (header check, decode) is seen. Peak memory
against the dataset's size is measured by ``benchmarks/dataset_memory.py``; here the test is which
files are read, which does not depend on the machine.
"""

import tracemalloc
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from serving_fixtures import make_tiny_model

from personseg.data.split import split_ids
from personseg.data.synthetic import write_synthetic
from personseg.data.validate import validate_dataset

SIZE = 64
COUNT = 120


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("streaming") / "data", count=COUNT, size=SIZE, seed=3)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("streaming-model") / "tiny", SIZE)


@pytest.fixture
def opened(monkeypatch, dataset) -> set[str]:
    """Ids of the dataset's files Pillow opens while the test runs."""
    seen: set[str] = set()
    real = PIL.Image.open

    def spy(fp, *args, **kwargs):
        path = Path(str(fp)) if isinstance(fp, (str, Path)) else None
        if path is not None and dataset in path.parents:
            seen.add(path.stem)
        return real(fp, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", spy)
    return seen


def _split(dataset: Path):
    return split_ids(sorted(p.stem for p in (dataset / "images").iterdir()), dataset)


def test_evaluate_opens_only_the_scored_split(dataset, model, opened):
    from personseg.evaluate.step import EvalConfig, run

    result = run(EvalConfig(models=(f"tiny={model}",), data=str(dataset), batch_size=4, rounds=1, warmup=0,
                            measure_peak=False))
    test = set(_split(dataset).test)
    assert result["data"]["samples"] == len(test) < COUNT // 4
    assert opened == test


def test_the_gallery_opens_only_the_images_it_shows(dataset, model, opened):
    from personseg.steps.gallery import build_gallery

    page = build_gallery(dataset, SIZE, [("tiny", model)], ("tiny", "tiny"), count=3)
    shown = _split(dataset).test[:3]
    assert opened == set(shown) and all(i in page for i in shown)


def test_quantize_opens_only_its_calibration_and_tuning_images(dataset, model, opened):
    from personseg.data.layout import scan
    from personseg.data.prescan import SampleSet
    from personseg.quantize.calibration import choose
    from personseg.steps.quantize import CandidatesConfig, _runtime_source

    chosen = choose(SampleSet(dataset, scan(dataset)[0], SIZE), _split(dataset), 8)  # nothing opened
    used = set(chosen.calibration.ids) | set(chosen.tune.ids)
    assert len(used) < COUNT // 2 and not opened
    # the pipeline's quantize step reads them for its runtimes ...
    source = _runtime_source(CandidatesConfig(candidates="bilinear:onnxruntime", data=str(dataset), calibration=8),
                             model, model, model)
    assert opened == used and len(source.calib_inputs) == 8
    opened.clear()
    # ... as ``personseg quantize`` does
    from personseg.quantize.step import quantization_images

    images = quantization_images(dataset, SIZE, 8)
    assert opened == used and images.calibration.ids == chosen.calibration.ids


def test_validate_decodes_every_sample_and_keeps_none(dataset, opened):
    decoded = COUNT * SIZE * SIZE * 4  # the dataset decoded: RGB + labels, one byte each
    tracemalloc.start()
    try:
        found = validate_dataset(str(dataset), SIZE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found.samples == COUNT and len(opened) == COUNT
    assert peak < decoded / 4, f"validate held {peak} bytes at its peak; the decoded dataset is {decoded}"


def test_batches_decode_nothing_before_they_are_asked_for(dataset, opened):
    from personseg.data.prescan import listed
    from personseg.data.stream import batches

    data = listed(dataset, SIZE)
    assert not opened
    stream = batches(data, 4)
    assert not opened
    x, labels = next(stream)
    assert x.shape == (4, 3, SIZE, SIZE) and labels.shape == (4, SIZE, SIZE) and x.dtype == np.float32
    assert opened == set(data.ids[:4])
