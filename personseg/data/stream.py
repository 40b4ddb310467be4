"""Samples decoded, letterboxed and augmented on demand, for a ``DataLoader`` with worker processes.

Nothing holds the dataset in memory: a batch is decoded when the loop asks for it, so peak memory is
set by the batch size and prefetch depth, not by the number of images. Items are keyed by
``(epoch, index)`` (``EpochSampler`` tags each index in the main process), and each item's augmentation
draws from a Generator seeded by (seed, epoch, index): the same seed gives the same samples with 0 or
8 workers, on one rank or four. A sample that fails to decode comes back blank (every label
``IGNORE``, so it adds nothing to loss or metrics) with its error message; ``check_errors`` turns that
into an error naming the file, or with ``skip_invalid`` counts it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sized

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from personseg.data import IGNORE
from personseg.data.augment import AugmentConfig, augment_sample, sample_generator
from personseg.data.composite import compose
from personseg.data.loading import LoadedData, load_sample
from personseg.data.prescan import SampleSet
from personseg.data.scenes import Scenes, resolve_backgrounds
from personseg.errors import UserError

log = logging.getLogger(__name__)
Item = tuple[torch.Tensor, torch.Tensor, int, str]
DONOR_POOL = 64  # samples per epoch that composites take people and backgrounds from


class StreamDataset(Dataset):
    """Samples of a ``SampleSet`` decoded when asked for.

    Item ``(epoch, index)`` or ``index``: image (3, S, S) float in [0, 1], labels (1, S, S) uint8, the
    index, and "" or the error that blanked the sample.
    """

    def __init__(self, data: SampleSet, augment: AugmentConfig | None = None, seed: int = 0) -> None:
        self.data = data
        self.augment = augment
        self.seed = seed
        self._pool: tuple[int, list[int]] | None = None  # (epoch, donor indices) for compositing
        self._decoded: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # donors decoded by this process
        folder = resolve_backgrounds(augment.backgrounds) if augment is not None else None
        self._scenes = Scenes(folder) if folder is not None else None  # photos are decoded when first drawn

    def __len__(self) -> int:
        return len(self.data.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        size, error = self.data.size, ""
        try:
            image, labels = load_sample(self.data.samples[index], size)
        except ValueError as exc:
            error = str(exc)
            image, labels = np.zeros((size, size, 3), np.uint8), np.full((size, size), IGNORE, np.uint8)
        x, y = _tensors(image, labels)
        if self.augment is not None and not error:
            gen = sample_generator(self.seed, epoch, index)
            if self.augment.composite > 0 and torch.rand(1, generator=gen).item() < self.augment.composite:
                x, y = compose((x, y), lambda: self._donor(epoch, gen), gen, self.augment.background_hue,
                               self._scenes)
            x, y = augment_sample(x, y, self.augment, gen)
        return x.contiguous(), y.contiguous(), index, error

    def _donor(self, epoch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A sample of this epoch's donor pool, drawn by ``gen``, unaugmented (blank if it fails to decode).

        The pool is ``DONOR_POOL`` samples chosen by (seed, epoch): a donor is decoded once per process and
        epoch however often it is drawn, memory stays bounded, and which donor a sample gets depends only on
        (seed, epoch, index), not on the worker or rank that builds it.
        """
        if self._pool is None or self._pool[0] != epoch:
            order = torch.randperm(len(self.data.samples), generator=sample_generator(self.seed, epoch, 0, 1))
            pool = order[:DONOR_POOL].tolist()
            keep = set(pool)
            self._decoded = {i: v for i, v in self._decoded.items() if i in keep}
            self._pool = (epoch, pool)
        pool = self._pool[1]
        index = pool[int(torch.randint(len(pool), (1,), generator=gen).item())]
        if index not in self._decoded:
            try:
                self._decoded[index] = _tensors(*load_sample(self.data.samples[index], self.data.size))
            except ValueError:  # its own turn as a sample reports the error; as a donor it gives no person
                size = self.data.size
                blank = torch.full((1, size, size), IGNORE, dtype=torch.uint8)
                self._decoded[index] = torch.zeros(3, size, size), blank
        return self._decoded[index]


def _tensors(image: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, S, S) float in [0, 1] and (1, S, S) uint8 from decoded arrays (copied: they are read-only)."""
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div_(255.0)
    return x, torch.from_numpy(np.array(labels))[None]


class EpochSampler(Sampler):
    """Tags every index of ``inner`` with the current epoch, so workers need no shared epoch counter."""

    def __init__(self, inner: Iterable[int]) -> None:
        self.inner = inner
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` (also reshuffles a ``DistributedSampler`` inside)."""
        self.epoch = epoch
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, int(i)) for i in self.inner)

    def __len__(self) -> int:
        return len(self.inner) if isinstance(self.inner, Sized) else 0


def make_loader(dataset: StreamDataset, sampler: Iterable, batch_size: int, workers: int = 0,
                pin_memory: bool = False) -> DataLoader:
    """Batches of ``dataset`` in ``sampler`` order from ``workers`` processes (0: this one).

    Workers stay alive across epochs. Per-item generators make the samples independent of the worker
    count, so no worker_init_fn has anything to seed.
    """
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=pin_memory, persistent_workers=workers > 0, drop_last=False)


def check_errors(errors: Iterable[str], skip_invalid: bool) -> int:
    """Raise for the first sample that failed to decode, or with ``skip_invalid`` count them."""
    failed = [e for e in errors if e]
    if failed and not skip_invalid:
        raise UserError(f"dataset: {failed[0]} (use --skip-invalid to mask such samples out)")
    for error in failed:
        log.warning("skipped a sample that failed to decode: %s", error)
    return len(failed)


def shard(count: int, rank: int, world: int) -> list[int]:
    """This rank's share of ``count`` items for evaluation: disjoint, no padding, together all of them."""
    return list(range(rank, count, world))


def batches(data: SampleSet, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``data`` decoded ``batch_size`` samples at a time: (N, 3, S, S) float32 in [0, 1] and (N, S, S) labels.

    Memory holds one batch, whatever the number of samples; a sample that fails to decode is an error.
    """
    for x, y, _, errors in make_loader(StreamDataset(data), range(len(data.samples)), batch_size):
        check_errors(errors, skip_invalid=False)
        yield x.numpy(), y[:, 0].numpy()


def load_all(data: SampleSet, batch_size: int = 32, workers: int = 0) -> LoadedData:
    """Decode ``data`` (e.g. a chosen split or calibration set, not a whole dataset) into memory."""
    images, labels = [], []
    for x, y, _, errors in make_loader(StreamDataset(data), range(len(data.samples)), batch_size, workers):
        check_errors(errors, skip_invalid=False)
        images.append((x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
        labels.append(y[:, 0].numpy())
    return LoadedData(data.ids, np.concatenate(images), np.concatenate(labels), data.root)
