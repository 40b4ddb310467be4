"""Find the samples of a dataset folder and report layout problems by file name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from personseg.errors import UserError

IMAGE_EXTS = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Sample:
    """One image with its mask (and optional ignore map)."""

    id: str
    image: Path
    mask: Path
    ignore: Path | None = None


def _by_stem(folder: Path, exts: tuple[str, ...]) -> tuple[dict[str, Path], list[str]]:
    found: dict[str, Path] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() not in exts:
            problems.append(f"{path}: unexpected file type (expected {', '.join(exts)})")
        elif path.stem in found:
            problems.append(f"{path}: duplicate id {path.stem!r} (also {found[path.stem].name})")
        else:
            found[path.stem] = path
    return found, problems


def scan(root: str | Path) -> tuple[list[Sample], list[str]]:
    """Samples found under ``root`` and the layout problems (missing or extra masks, stray files)."""
    root = Path(root)
    if not (root / "images").is_dir():
        raise UserError(f"dataset {root}: no images/ folder (expected images/<id>.jpg|png and masks/<id>.png)")
    if not (root / "masks").is_dir():
        raise UserError(f"dataset {root}: no masks/ folder (expected masks/<id>.png for every image)")
    images, problems = _by_stem(root / "images", IMAGE_EXTS)
    masks, mask_problems = _by_stem(root / "masks", (".png",))
    ignores, ignore_problems = _by_stem(root / "ignore", (".png",))
    problems += mask_problems + ignore_problems
    problems += [f"{images[i]}: no mask (expected {root / 'masks' / (i + '.png')})" for i in images if i not in masks]
    problems += [f"{masks[i]}: extra mask with no image" for i in masks if i not in images]
    problems += [f"{ignores[i]}: ignore map with no image" for i in ignores if i not in images]
    samples = [Sample(i, images[i], masks[i], ignores.get(i)) for i in sorted(images) if i in masks]
    return samples, problems
