"""Rebuild the committed datasets ``datasets/demo``, ``real`` and ``people`` with the MediaPipe teacher.

Run it only to regenerate them; ``personseg data demo`` copies the committed result and needs
neither openpeople nor mediapipe. It runs in the teacher's environment (``make teacher``: the
project's ``label`` extra, apart from kfp because mediapipe 0.10.21 needs protobuf<5) plus two
packages for the photos::

    make teacher
    .venv-teacher/bin/pip install openpeople==0.1.2 scikit-image mahotas
    apt-get install opencv-doc            # basketball1/2.png (real); messi5.jpg, left06.jpg, 2 portraits (people)
    .venv-teacher/bin/python scripts/build_demo_data.py --overlays /tmp/overlays

``demo``: the 40 single-person openpeople photos (10 synthetic people x 4 shots; the two multi-panel
sheets per person are left out), split by person into train / val / test. ``real``: four real
photographs shipped in packages, all held out (test) for "agreement with teacher on real photos".
``people``: six more real photographs of people shipped in packages, all for training (their ``split.json``
puts every one in train), the pipeline's ``extra_train_uri``; none is a held-out real photo or a frame of
the same scene. The letterbox padding of each image is written into its ignore map: it is not part of the photo.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from personseg.atomic import atomic_dir, write_json
from personseg.imageops import letterbox, padding_mask
from personseg.labeling.band import Band
from personseg.labeling.label import Labels, label_image, teacher_card, write_example
from personseg.labeling.mediapipe_teacher import MediapipeTeacher

# Each openpeople person has 6 assets; these 4 show one person. character_sheet and emotions_sheet
# are grids of many small panels (checked by eye on a contact sheet) and are excluded.
SINGLE_PERSON_SHOTS = ("amateur_selfie", "studio_portrait", "studio_posture", "amateur_posture")
# Held-out people: one woman and one man for test, so it is not a single look; one more for val.
TEST_PEOPLE = ("P004", "P008")
VAL_PEOPLE = ("P006",)
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_HTML = Path("/usr/share/doc/opencv-doc/opencv4/html")
JPEG_QUALITY = 90

LICENCES = {
    "openpeople": "MIT (Copyright (c) 2026 Prompt Haus); synthetic people, no real individuals",
    "mediapipe": "Apache-2.0 (the teacher model selfie_segmentation.tflite ships in the package)",
    "scikit-image": "astronaut.png: NASA photograph of Eileen Collins; per skimage.data.astronaut's "
    "docstring 'No known copyright restrictions, released into the public domain'",
    "matplotlib": "grace_hopper.jpg ships in matplotlib's sample_data under the Matplotlib licence "
    "(PSF-based, redistribution allowed with the notice); the package states no separate licence for "
    "the photo, which is the US Navy's official portrait of Grace Hopper, a US government work",
    "opencv-doc": "Debian's copyright file puts examples/data (basketball1.png, basketball2.png, messi5.jpg, "
    "left06.jpg) and the HTML documentation's images under OpenCV's 'Files: *' stanza: Apache-2.0 AND "
    "BSD-3-Clause; the photographs' origin is not stated",
    "scikit-image (camera)": "camera.png: per skimage.data.camera's docstring 'No copyright restrictions. CC0 by "
    "the photographer (Lav Varshney)'",
    "mahotas": "MIT (the package's licence; demos/data/luispedro.jpg is a photo of its author, Luis Pedro Coelho)",
}


# What the masks looked like when checked by eye (image | overlay PNGs from --overlays).
NOTES = {
    "demo": "Checked by eye on all 40 overlays: people are covered head to toe including hair and hands; "
    "the ignore band is a thin rim along the outline, wider around curly hair. Selfies have small ignore "
    "(and a few person) specks on nearby furniture or a coffee cup; the full-body shots are clean.",
    "people": "Checked by eye on all 6 overlays: the cameraman and the three head-and-shoulders portraits are "
    "clean (the cameraman's tripod is partly ignore); the footballer (small at 256 px) is person with ignore "
    "patches on his legs and arm; the man behind the chessboard is person where he shows (head, a strip of "
    "shirt), his arm and the desk edge ignore. Two more candidates were left out for "
    "their labels: a webcam frame (the teacher marked the held-up frame as person, 30 % ignore) and two men "
    "in a glider (cockpit parts marked person).",
    "real": "astronaut and grace_hopper: clean masks (the helmet Eileen Collins holds counts as person). "
    "basketball1/2 (grayscale frames) are hard for a selfie model: the near man in the patterned shirt is "
    "person with ignore patches (about half of him in basketball1), and the small man at the back is almost "
    "entirely ignore, so he is barely scored.",
}


def package_version(package: str) -> str:
    """Installed version of a Python package, or of the Debian package for opencv-doc."""
    package = package.split(" (")[0]  # "scikit-image (camera)" is scikit-image
    if package == "opencv-doc":
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
        return done.stdout.strip() or "unknown"
    return importlib.metadata.version(package)


@dataclass(frozen=True)
class Source:
    """One picture to label: its dataset id, where it came from, a loader, and a group (person)."""

    example_id: str
    origin: str
    package: str
    group: str
    path: Path | None = None
    array: np.ndarray | None = None

    def open(self) -> Image.Image:
        """The picture as RGB."""
        if self.array is not None:
            return Image.fromarray(self.array).convert("RGB")
        with Image.open(self.path) as img:
            return img.convert("RGB")


def demo_sources() -> list[Source]:
    """The single-person openpeople photos, grouped by person id."""
    import openpeople

    out = []
    for person in openpeople.curated.list():
        for shot in SINGLE_PERSON_SHOTS:
            path = Path(person.asset_path(shot))
            out.append(Source(f"{person.person_id}_{shot}", f"openpeople {person.person_id}/{path.name}",
                              "openpeople", person.person_id, path=path))
    return out


def real_sources() -> list[Source]:
    """Real photographs shipped in scikit-image, matplotlib and Debian's opencv-doc."""
    import matplotlib.cbook
    import skimage.data

    hopper = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    out = [
        Source("astronaut", "skimage.data.astronaut()", "scikit-image", "astronaut", array=skimage.data.astronaut()),
        Source("grace_hopper", "matplotlib sample_data/grace_hopper.jpg", "matplotlib", "grace_hopper", path=hopper),
    ]
    for name in ("basketball1", "basketball2"):
        path = OPENCV_DATA / f"{name}.png"
        if not path.is_file():
            sys.exit(f"{path} is missing: apt-get install opencv-doc")
        out.append(Source(name, f"opencv-doc examples/data/{name}.png", "opencv-doc", "basketball", path=path))
    return out


def people_sources() -> list[Source]:
    """Six real photographs of people for training: opencv-doc, scikit-image's camera, mahotas' author."""
    import importlib.resources

    import skimage.data

    opencv = [(OPENCV_DATA / "messi5.jpg", "messi5", "examples/data/messi5.jpg"),
              (OPENCV_DATA / "left06.jpg", "chessboard", "examples/data/left06.jpg"),
              (OPENCV_HTML / "227943776_1.jpg", "portrait_tshirt", "opencv4/html/227943776_1.jpg"),
              (OPENCV_HTML / "230501201_1.jpg", "portrait_goatee", "opencv4/html/230501201_1.jpg")]
    out = []
    for path, example_id, where in opencv:
        if not path.is_file():
            sys.exit(f"{path} is missing: apt-get install opencv-doc")
        out.append(Source(example_id, f"opencv-doc {where}", "opencv-doc", example_id, path=path))
    out.append(Source("cameraman", "skimage.data.camera()", "scikit-image (camera)", "cameraman",
                      array=skimage.data.camera()))
    author = Path(str(importlib.resources.files("mahotas") / "demos" / "data" / "luispedro.jpg"))
    out.append(Source("luispedro", "mahotas demos/data/luispedro.jpg", "mahotas", "luispedro", path=author))
    return out


def overlay(image: Image.Image, labels: Labels) -> Image.Image:
    """Person tinted green, ignore tinted red: for checking the masks by eye."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    tint = rgb.copy()
    tint[labels.mask > 0] = 0.5 * rgb[labels.mask > 0] + 0.5 * np.array([0, 255, 0])
    tint[labels.ignore > 0] = 0.4 * rgb[labels.ignore > 0] + 0.6 * np.array([255, 0, 0])
    return Image.fromarray(np.concatenate([rgb, tint], axis=1).astype(np.uint8))


def build(which: str, sources: list[Source], out_root: Path, size: int, band: Band,
          overlays: Path | None, command: str) -> dict:
    """Letterbox, label and write one dataset atomically; return its card."""
    teacher = MediapipeTeacher()
    groups: dict[str, list[str]] = {}
    person, unsure = [], []
    with atomic_dir(out_root / which, force=True) as tmp:  # the committed set it regenerates
        (tmp / "images").mkdir()
        for src in sources:
            boxed, box = letterbox(src.open(), size, resample=Image.LANCZOS)
            image_path = tmp / "images" / f"{src.example_id}.jpg"
            boxed.save(image_path, quality=JPEG_QUALITY)
            with Image.open(image_path) as stored:  # label the pixels a reader will decode, not pre-JPEG ones
                boxed = stored.convert("RGB")
            labels = label_image(teacher, boxed, band)
            pad = padding_mask(box, size)  # not part of the photo: ignore, and never person
            labels = Labels(np.where(pad, 0, labels.mask).astype(np.uint8),
                            np.where(pad, 255, labels.ignore).astype(np.uint8))
            write_example(tmp, src.example_id, labels)
            groups.setdefault(src.group, []).append(src.example_id)
            person.append(labels.person_fraction)
            unsure.append(labels.ignore_fraction)
            print(f"{which}/{src.example_id}: person {100 * labels.person_fraction:.1f}% "
                  f"ignore {100 * labels.ignore_fraction:.1f}%")
            if overlays:
                overlays.mkdir(parents=True, exist_ok=True)
                overlay(boxed, labels).save(overlays / f"{which}_{src.example_id}.png")
        teacher.close()
        ids = [s.example_id for s in sources]
        # real photos are all held out; people photos all train (an extra training set)
        test_groups = set(groups) if which == "real" else set() if which == "people" else set(TEST_PEOPLE)
        val_groups = set(VAL_PEOPLE) if which == "demo" else set()
        test = [i for group in sorted(test_groups) for i in groups[group]]
        val = [i for group in sorted(val_groups) for i in groups[group]]
        split = {"train": [i for i in ids if i not in test and i not in val], "val": val, "test": test}
        write_json(tmp / "split.json", split)
        card = {
            "name": f"personseg-{which}",
            "description": DESCRIPTIONS[which],
            "sources": [{"package": p, "version": package_version(p), "licence": LICENCES[p]}
                        for p in sorted({s.package for s in sources})]
            + [{"package": "mediapipe", "version": package_version("mediapipe"), "licence": LICENCES["mediapipe"],
                "role": "teacher"}],
            "origins": {s.example_id: s.origin for s in sources},
            "labels": teacher_card(teacher, band),
            "size": size,
            "resize": "letterbox (aspect kept, padded with grey 114), LANCZOS; images JPEG quality 90, "
            "labelled as decoded from that JPEG; the padding is ignore (not part of the photo)",
            "counts": {"images": len(ids), "train": len(split["train"]), "val": len(split["val"]),
                       "test": len(split["test"]),
                       "with_ignore": sum(1 for f in unsure if f > 0)},
            "groups": groups,
            "person_fraction": round(float(np.mean(person)), 4),
            "ignore_fraction": round(float(np.mean(unsure)), 4),
            "notes": NOTES[which],
            "built_with": command,
        }
        write_json(tmp / "dataset.json", card)
        (tmp / "README.md").write_text(readme(card))
    return card


DESCRIPTIONS = {
    "demo": "Single-person photos of 10 synthetic people from openpeople (selfie, studio portrait, "
    "studio full body, outdoor full body), split by person (7 train, 1 val, 2 test) so no person is in two "
    "parts.",
    "real": "Real photographs shipped in Python/Debian packages, all held out (test): scores on them are "
    "'agreement with the teacher on real photos', not accuracy against human masks.",
    "people": "Six real photographs of people shipped in Python/Debian packages (a footballer, a cameraman, "
    "a man behind a chessboard, three head-and-shoulders portraits; four in colour, two greyscale), "
    "all for training: the pipeline's extra_train_uri adds them to a dataset's train split. None "
    "is one of the held-out real photos or from their scenes.",
}


def readme(card: dict) -> str:
    """The human-readable card written beside dataset.json."""
    lab = card["labels"]
    lines = [
        f"# {card['name']}", "", card["description"], "",
        f"**Masks are teacher labels, not human annotation**: MediaPipe selfie segmentation "
        f"({lab['teacher_model']}, mediapipe {lab['teacher_version']}) on the {card['size']} px letterboxed "
        f"image; person where p >= {lab['high']}, background where p <= {lab['low']}, and in between "
        "`ignore/<id>.png` = 255 (training and IoU skip those pixels; the mask has 0 there).", "",
        "Counts: " + ", ".join(f"{k} {v}" for k, v in card["counts"].items())
        + f". Mean person share {card['person_fraction']:.1%}, "
        f"mean ignore share {card['ignore_fraction']:.1%}.", "",
        "Layout: `images/<id>.jpg`, `masks/<id>.png` (L, 0/255), `ignore/<id>.png` (only where the teacher "
        "was unsure, and the letterbox padding), `split.json` ("
        + {"personseg-demo": "train/val/test by person", "personseg-real": "train/val/test by hold-out"}.get(
            card["name"], "every image in train") + "), "
        "`dataset.json` (this card as data).", "",
        "## Sources and licences", "",
        *[f"- {s['package']} {s['version']}{' (teacher)' if s.get('role') else ''}: {s['licence']}"
          for s in card["sources"]],
        "",
        "## What the masks look like", "",
        card["notes"], "",
        "## Rebuild", "",
        "See the docstring of `scripts/build_demo_data.py` for the teacher environment, then:", "",
        f"    {card['built_with']}", "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Rebuild the requested datasets under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--which", choices=("demo", "real", "people", "all"), default="all")
    parser.add_argument("--out", type=Path, default=Path("datasets"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--low", type=float, default=0.3)
    parser.add_argument("--high", type=float, default=0.7)
    parser.add_argument("--overlays", type=Path, help="also write image|overlay PNGs here, for checking by eye")
    args = parser.parse_args(argv)
    band = Band(args.low, args.high)
    for which in ("demo", "real", "people") if args.which == "all" else (args.which,):
        words = ["scripts/build_demo_data.py", "--which", which, "--out", str(args.out),
                 "--size", str(args.size), "--low", str(band.low), "--high", str(band.high)]
        command = "PYTHONPATH=. .venv-teacher/bin/python " + " ".join(shlex.quote(w) for w in words)
        sources = {"demo": demo_sources, "real": real_sources, "people": people_sources}[which]()
        card = build(which, sources, args.out, args.size, band, args.overlays, command)
        print(f"{which}: {card['counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
