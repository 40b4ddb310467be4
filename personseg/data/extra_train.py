"""Add other datasets' images to a dataset's train or val split (``extra_train_uri``, ``extra_val_uri``).

Why: a few real photographs of people (a user's own, labelled with ``personseg data label``, or the
committed ``people`` set) are what the demo lacks. As training photos they must not change what the gate
measures: test stays the main dataset's, so a run with extra photos and one without are scored on the
same images. As validation photos they choose the epoch kept: trained on generated people alone, a
model's IoU on the demo's own val photos keeps rising while it falls on real photographs, so the best
epoch on val is often the one that has forgotten most of what real photos look like.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from personseg.atomic import atomic_dir, write_json
from personseg.data.checked import usable_samples
from personseg.data.layout import Sample
from personseg.data.split import SPLIT_FILE, split_ids
from personseg.errors import UserError
from personseg.labeling.committed import CARD, read_card

PREFIX = "extra-"  # extra ids are renamed <PREFIX><id>, so they cannot collide with the main dataset's
VAL_PREFIX = "xval-"  # the same for an extra validation set
PREFIXES = {"train": PREFIX, "val": VAL_PREFIX}  # the prefix of each split an extra set may join
WHAT = {"train": "extra training set", "val": "extra validation set"}  # how errors name each extra set


def _checked(root: Path, what: str) -> list[Sample]:
    """``root``'s samples under the one layout rule every reader uses; a problem names ``what`` and the file."""
    try:
        return [sample for sample, _ in usable_samples(root, lambda sample: None, skip_invalid=False)]
    except UserError as exc:
        raise UserError(f"{what}: {exc}") from None


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
    return add_sets(base, out, {"train": (extra, prefix)})


def add_sets(base: Path, out: Path, extras: dict[str, tuple[Path, str]]) -> dict[str, int]:
    """Write ``out``: ``base`` plus, for each ``split: (folder, prefix)``, every image of folder in that split.

    ``split`` is ``train`` (extra training photos) or ``val`` (extra photos that choose the best epoch);
    test is always ``base``'s, so the gate scores what it scored without them. ``out`` is complete or absent.
    """
    wrong = sorted(set(extras) - set(WHAT))
    if wrong:
        raise ValueError(f"extra sets may join train or val, not {wrong}")
    base_samples = _checked(base, "dataset")
    added: dict[str, list[Sample]] = {name: _checked(folder, WHAT[name]) for name, (folder, _) in extras.items()}
    split = split_ids([s.id for s in base_samples], base)
    ids = {"train": list(split.train), "val": list(split.val), "test": list(split.test)}
    taken = {s.id for s in base_samples}
    for name, (folder, prefix) in extras.items():
        for sample in added[name]:
            if prefix + sample.id in taken:
                raise UserError(f"{WHAT[name]} {folder}: id {prefix + sample.id!r} is already in {base}")
            taken.add(prefix + sample.id)
    with atomic_dir(out) as tmp:
        for sub in ("images", "masks", "ignore"):
            (tmp / sub).mkdir()
        for sample in base_samples:
            _copy(sample, tmp, sample.id)
        card = _card(base)
        for name, (folder, prefix) in extras.items():
            for sample in added[name]:
                _copy(sample, tmp, prefix + sample.id)
            ids[name] += [prefix + s.id for s in added[name]]
            card[f"extra_{name}"] = {"source": str(folder), "images": len(added[name]), "prefix": prefix,
                                     "card": _card(folder)}
        write_json(tmp / SPLIT_FILE, ids)
        counts = {part: len(members) for part, members in ids.items()}
        card["counts"] = {**card.get("counts", {}), "images": sum(counts.values()), **counts}
        write_json(tmp / CARD, card)
    return {**counts, **{f"extra_{name}": len(samples) for name, samples in added.items()}}


def check_extra_sets(extra_train_uri: str, dataset_uri: str, extra_eval_uri: str = "",
                      extra_val_uri: str = "") -> None:
    """Refuse an extra training or validation set that is data it must stay apart from.

    An extra training set that is the dataset itself or the second evaluation set would put images that
    are scored into training; an extra validation set that is one of those, or the extra training set,
    would choose the epoch on images that are trained on or reported. Either way the figures that select,
    gate and report the model would stop meaning anything. Names and fingerprints are compared, so the same
    data under another name is caught where its fingerprint matches.
    """
    from personseg.data.fingerprint import dataset_fingerprint

    prints: dict[str, str] = {}

    def same(a: str, b: str) -> bool:
        if a == b:
            return True
        for uri in (a, b):
            if uri not in prints:
                prints[uri] = dataset_fingerprint(uri)
        return prints[a] == prints[b]

    named = {"dataset_uri": str(dataset_uri).strip(), "extra_eval_uri": str(extra_eval_uri).strip(),
             "extra_train_uri": str(extra_train_uri).strip(), "extra_val_uri": str(extra_val_uri).strip()}
    apart = {"extra_train_uri": ("dataset_uri", "extra_eval_uri"),
             "extra_val_uri": ("dataset_uri", "extra_eval_uri", "extra_train_uri")}
    for param, others in apart.items():
        extra = named[param]
        for other in others:
            if extra and named[other] and same(extra, named[other]):
                use = "training on it would score the model on images it learnt" if param == "extra_train_uri" \
                    else "choosing the epoch on it would select on images that are trained on or scored"
                raise UserError(f"{param} {extra!r}: the same data as {other} {named[other]!r}; {use}")


def _card(root: Path) -> dict:
    """``root``'s dataset card, or {} when it has none (a user's folder need not)."""
    return read_card(root) if (root / CARD).is_file() else {}
