"""Add a second dataset's images to a dataset's training split (the pipeline's ``extra_train_uri``).

Why: a few real photographs of people (a user's own, labelled with ``personseg data label``, or the
committed ``people`` set) are the training data the demo lacks, but they must not change what selection
and the gate measure: val and test stay the main dataset's, so a run with extra photos and one without
are scored on the same images.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from personseg.atomic import atomic_dir, write_json
from personseg.data.layout import Sample, scan
from personseg.data.split import SPLIT_FILE, split_ids
from personseg.errors import UserError
from personseg.labeling.committed import CARD, read_card

PREFIX = "extra-"  # extra ids are renamed <PREFIX><id>, so they cannot collide with the main dataset's


def _checked(root: Path, what: str) -> list[Sample]:
    samples, problems = scan(root)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(f"{what}: {problems[0]}{more}")
    if not samples:
        raise UserError(f"{what} {root}: no images")
    return samples


def _copy(sample: Sample, tmp: Path, new_id: str) -> None:
    shutil.copyfile(sample.image, tmp / "images" / f"{new_id}{sample.image.suffix.lower()}")
    shutil.copyfile(sample.mask, tmp / "masks" / f"{new_id}.png")
    if sample.ignore is not None:
        shutil.copyfile(sample.ignore, tmp / "ignore" / f"{new_id}.png")


def add_training_set(base: Path, extra: Path, out: Path, prefix: str = PREFIX) -> dict[str, int]:
    """Write ``out``: ``base`` plus every image of ``extra`` (as ``prefix + id``) in train; returns the counts.

    ``base``'s val and test are kept as they are; ``extra``'s own split is ignored (all of it trains).
    ``out`` is complete or absent. A layout problem in either set names the file.
    """
    base_samples = _checked(base, "dataset")
    extra_samples = _checked(extra, "extra training set")
    split = split_ids([s.id for s in base_samples], base)
    taken = {s.id for s in base_samples}
    clash = sorted(prefix + s.id for s in extra_samples if prefix + s.id in taken)
    if clash:
        raise UserError(f"extra training set {extra}: id {clash[0]!r} is already in {base}")
    with atomic_dir(out) as tmp:
        for sub in ("images", "masks", "ignore"):
            (tmp / sub).mkdir()
        for sample in base_samples:
            _copy(sample, tmp, sample.id)
        for sample in extra_samples:
            _copy(sample, tmp, prefix + sample.id)
        added = [prefix + s.id for s in extra_samples]
        write_json(tmp / SPLIT_FILE, {"train": [*split.train, *added], "val": split.val, "test": split.test})
        card = _card(base)
        card["extra_train"] = {"source": str(extra), "images": len(added), "prefix": prefix,
                               "card": _card(extra)}
        card["counts"] = {**card.get("counts", {}), "images": len(base_samples) + len(added),
                          "train": len(split.train) + len(added), "val": len(split.val), "test": len(split.test)}
        write_json(tmp / CARD, card)
    return {"train": len(split.train) + len(added), "val": len(split.val), "test": len(split.test),
            "extra": len(added)}


def check_extra_train(extra_train_uri: str, dataset_uri: str, extra_eval_uri: str = "") -> None:
    """Refuse an extra training set that is the dataset itself or the second evaluation set.

    Either would put images that are scored (the dataset's val and test, or the whole evaluation set) into
    training, and the figures that select, gate and report the model would stop meaning anything. Names and
    fingerprints are compared, so the same data under another name is caught where its fingerprint matches.
    """
    from personseg.data.fingerprint import dataset_fingerprint

    extra = str(extra_train_uri).strip()
    if not extra:
        return
    mine = dataset_fingerprint(extra)
    for param, uri in (("dataset_uri", dataset_uri), ("extra_eval_uri", extra_eval_uri)):
        uri = str(uri).strip()
        if uri and (uri == extra or dataset_fingerprint(uri) == mine):
            raise UserError(f"extra_train_uri {extra!r}: the same data as {param} {uri!r}; training on it would "
                            "score the model on images it learnt")


def _card(root: Path) -> dict:
    """``root``'s dataset card, or {} when it has none (a user's folder need not)."""
    return read_card(root) if (root / CARD).is_file() else {}
