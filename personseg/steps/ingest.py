"""Turn the pipeline's ``dataset_uri`` into a dataset folder (the ``Dataset`` artifact).

Accepted: ``demo`` / ``real`` / ``people`` (the committed datasets, letterboxed to the run's image size),
``synthetic:N`` (N generated images, for smoke runs), a local folder, or an ``s3://`` prefix. An
``extra_train_uri`` (any of the same forms) adds all of its images to the training split only, and
``extra_val_uri`` to the validation split only (the photos that choose the epoch kept).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from personseg.atomic import atomic_dir
from personseg.errors import UserError
from personseg.labeling.committed import WHICH as COMMITTED
from personseg.uris import local_dataset

SYNTHETIC = "synthetic:"


def extra_eval_set(uri: str, workdir: str | Path, size: int) -> tuple[str, Path] | None:
    """(uri, folder) of the second evaluation set named by ``uri``, or None when ``uri`` is empty."""
    uri = str(uri).strip()
    if not uri:
        return None
    return uri, materialize(uri, Path(workdir) / "extra-eval", size)


def materialize(uri: str, out: str | Path, size: int, extra_train_uri: str = "", extra_val_uri: str = "") -> Path:
    """Write the dataset named by ``uri`` into ``out`` (complete or absent).

    ``extra_train_uri``'s images join its train split, ``extra_val_uri``'s its val split
    (``personseg.data.extra_train``).
    """
    from personseg.data.extra_train import PREFIXES, add_sets

    named = {split: str(extra).strip() for split, extra in (("train", extra_train_uri), ("val", extra_val_uri))
             if str(extra).strip()}
    if not named:
        return _materialize(uri, out, size)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(out).parent, prefix=".ingest-") as work:
        base = _materialize(uri, Path(work) / "base", size)
        extras = {split: (_materialize(extra, Path(work) / f"extra-{split}", size), PREFIXES[split])
                  for split, extra in named.items()}
        add_sets(base, Path(out), extras)
    return Path(out)


def synthetic_count(uri: str, param: str = "dataset_uri") -> int:
    """N of ``synthetic:N``; anything else is refused naming ``param``."""
    count = uri[len(SYNTHETIC):]
    if not count.isdigit() or int(count) < 2:
        raise UserError(f"{param} {uri!r}: expected synthetic:N with N >= 2")
    return int(count)


def check_dataset(param: str, uri: str, size: int) -> None:
    """Refuse, naming ``param`` and the user's URI, a dataset that ingest or training would refuse.

    A folder or ``s3://`` prefix gets every check of ``personseg data validate``; the committed
    datasets are checked by their own tests, and ``synthetic:N`` is generated.
    """
    uri = str(uri).strip()
    if uri in COMMITTED:
        return
    if uri.startswith(SYNTHETIC):
        synthetic_count(uri, param)
        return
    from personseg.data.validate import validate_dataset

    try:
        validate_dataset(uri, size)
    except UserError as exc:
        raise UserError(f"{param} {uri!r}: {exc}") from None


def _materialize(uri: str, out: str | Path, size: int) -> Path:
    """Write the dataset named by ``uri`` into ``out`` (complete or absent)."""
    uri = str(uri).strip()
    if uri in COMMITTED:
        from personseg.labeling.committed import committed_dataset, copy_dataset

        copy_dataset(committed_dataset(uri), out, size)
        return Path(out)
    if uri.startswith(SYNTHETIC):
        from personseg.data.synthetic import write_synthetic

        write_synthetic(out, synthetic_count(uri), size)
        return Path(out)
    src = local_dataset(uri)
    with atomic_dir(out) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    return Path(out)
