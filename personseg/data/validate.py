"""Check a dataset the way training reads it, one sample at a time: ``data validate``, ``data push``, check_data.

Every sample is decoded, checked (readable, mask binary and the image's size, ignore map too) and
dropped, so memory stays flat in the dataset's size. Problems are refused together, each naming its
file; for an ``s3://`` prefix the file is named under the prefix, not the local cache it was read from.
"""

from __future__ import annotations

from dataclasses import dataclass

from personseg.data.checked import usable_samples
from personseg.data.layout import Sample
from personseg.data.loading import load_sample
from personseg.data.split import split_ids
from personseg.errors import UserError
from personseg.uris import is_remote, local_dataset


@dataclass(frozen=True)
class ValidDataset:
    """What a valid dataset holds: its sample count per split, and where the split came from."""

    uri: str
    samples: int
    counts: dict[str, int]
    split_source: str


def validate_dataset(uri: str, size: int) -> ValidDataset:
    """Refuse a dataset that training would refuse (stray files, images without masks, unreadable files)."""
    def decodes(sample: Sample) -> None:
        load_sample(sample, size)  # raises naming the file; the pixels are dropped at once

    root = local_dataset(uri)
    try:
        kept = usable_samples(root, decodes, skip_invalid=False)
    except UserError as exc:
        if not is_remote(uri):
            raise
        raise UserError(str(exc).replace(str(root).rstrip("/"), str(uri).rstrip("/"))) from None
    split = split_ids([sample.id for sample, _ in kept], root)
    return ValidDataset(str(uri), len(kept), split.counts(), split.source)
