"""Streaming data: the same samples as the in-memory loader, the same augmentation whatever the workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from personseg.data import IGNORE
from personseg.data.augment import AugmentConfig, augment_sample, sample_generator
from personseg.data.loading import load_dataset
from personseg.data.prescan import prescan
from personseg.data.stream import EpochSampler, StreamDataset, check_errors, make_loader, shard
from personseg.errors import UserError


def _batches(loader) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    xs, ys, idx = [], [], []
    for x, y, i, errors in loader:
        assert not any(errors)
        xs.append(x)
        ys.append(y)
        idx += i.tolist()
    return torch.cat(xs), torch.cat(ys), idx


def test_streaming_without_augmentation_gives_the_in_memory_samples(tiny_dataset):
    memory = load_dataset(tiny_dataset, 64)
    stream = prescan(tiny_dataset, 64)
    assert stream.ids == memory.ids
    x, y, idx = _batches(make_loader(StreamDataset(stream), range(len(stream.ids)), batch_size=16))
    assert idx == list(range(len(memory.ids)))
    assert torch.equal((x * 255).round().to(torch.uint8).permute(0, 2, 3, 1), torch.from_numpy(memory.images))
    assert torch.equal(y[:, 0], torch.from_numpy(memory.labels))


def test_augmented_samples_do_not_depend_on_the_worker_count(tiny_dataset):
    data = prescan(tiny_dataset, 64).subset(prescan(tiny_dataset, 64).ids[:12])
    runs = {}
    for workers in (0, 2):
        sampler = EpochSampler(range(12))
        sampler.set_epoch(3)
        runs[workers] = _batches(make_loader(StreamDataset(data, AugmentConfig(), seed=5), sampler, 4, workers))
    assert torch.equal(runs[0][0], runs[2][0]) and torch.equal(runs[0][1], runs[2][1])
    plain, _, _ = _batches(make_loader(StreamDataset(data), range(12), 4))
    assert not torch.equal(runs[0][0], plain)  # augmentation did something
    other_epoch = StreamDataset(data, AugmentConfig(), seed=5)[(4, 0)][0]
    other_seed = StreamDataset(data, AugmentConfig(), seed=6)[(3, 0)][0]
    assert not torch.equal(other_epoch, runs[0][0][0]) and not torch.equal(other_seed, runs[0][0][0])


def test_augmentation_keeps_ignore_exact_and_flips_labels_with_the_image():
    image = torch.rand(3, 32, 32)
    labels = torch.zeros(1, 32, 32, dtype=torch.uint8)
    labels[:, :, :8] = IGNORE
    labels[:, 10:20, 20:28] = 1
    flip_only = AugmentConfig(flip=1.0, scale_min=1, scale_max=1, brightness=0, contrast=0, saturation=0)
    x, y = augment_sample(image, labels, flip_only, sample_generator(0, 1, 0))
    assert torch.equal(y, labels.flip(2)) and torch.allclose(x, image.flip(2), atol=1e-6)
    for index in range(20):
        x, y = augment_sample(image, labels, AugmentConfig(), sample_generator(0, 1, index))
        assert set(y.unique().tolist()) <= {0, 1, IGNORE} and (y == IGNORE).any()
        assert x.min() >= 0 and x.max() <= 1 and x.shape == image.shape


def test_shards_are_disjoint_and_cover_everything():
    parts = [shard(10, rank, 3) for rank in range(3)]
    assert sorted(sum(parts, [])) == list(range(10))


def _dataset(root, n=3, size=32):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        Image.new("RGB", (size, size), (i * 40, 10, 10)).save(root / "images" / f"s{i}.png")
        mask = np.zeros((size, size), np.uint8)
        mask[4:20, 4:20] = 255
        Image.fromarray(mask).save(root / "masks" / f"s{i}.png")
    return root


@pytest.mark.parametrize("breakage,message", [
    (lambda r: (r / "masks" / "s1.png").unlink(), r"s1.png: no mask"),
    (lambda r: Image.new("L", (16, 16)).save(r / "masks" / "s0.png"), r"s0.png: mask is 16x16 but image is 32x32"),
    (lambda r: (r / "images" / "s2.png").write_bytes(b"not an image"), r"s2.png: not a readable image"),
])
def test_prescan_names_the_file(tmp_path, breakage, message):
    root = _dataset(tmp_path / "d")
    breakage(root)
    with pytest.raises(UserError, match=message):
        prescan(root, 32)


def test_prescan_skip_invalid_counts_what_was_skipped(tmp_path, caplog):
    root = _dataset(tmp_path / "d")
    (root / "images" / "s2.png").write_bytes(b"junk")
    assert prescan(root, 32, skip_invalid=True).ids == ["s0", "s1"]
    assert "skipped 1 problem file(s), kept 2 samples" in caplog.text


def test_a_sample_that_fails_to_decode_is_named_or_masked_out(tmp_path, caplog):
    """Headers fine, pixels not: a mask with three values passes the pre-scan and fails at decode."""
    root = _dataset(tmp_path / "d")
    Image.fromarray(np.arange(32 * 32, dtype=np.uint8).reshape(32, 32) % 3).save(root / "masks" / "s1.png")
    data = prescan(root, 32)
    x, y, index, error = StreamDataset(data, AugmentConfig())[(1, 1)]
    assert index == 1 and "s1.png: mask is not binary" in error
    assert (y == IGNORE).all() and not x.any()  # contributes no loss and no metric
    with pytest.raises(UserError, match="s1.png: mask is not binary"):
        check_errors(["", error], skip_invalid=False)
    assert check_errors(["", error], skip_invalid=True) == 1
    assert "s1.png: mask is not binary" in caplog.text
