"""Rebuild the committed ``datasets/scenes``: photos with nobody in them, backgrounds for ``--backgrounds scenes``.

Run it only to regenerate them (``apt-get install opencv-doc`` first); training reads the committed copy.
Each photo is shrunk to fit 512 x 512 and saved as JPEG (quality 90). The list was chosen by eye from a
contact sheet of every photo in opencv-doc's ``examples/data``: photographs and paintings with no person
in them. Left out: anything with a person or a person-like figure (messi5, ml, the videos), the
basketball frames (their siblings are held-out real photos), the chessboard, stereo and text images, and
drawings of flat shapes::

    PYTHONPATH=. .venv/bin/python scripts/build_scenes.py --out datasets/scenes
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from personseg.atomic import atomic_dir, write_json

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
PHOTOS = ("aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "box_in_scene.png",
          "building.jpg", "butterfly.jpg", "chicky_512.png", "fruits.jpg", "graf1.png", "graf3.png", "home.jpg",
          "leuvenA.jpg", "leuvenB.jpg", "licenseplate_motion.jpg", "orange.jpg", "rubberwhale1.png", "smarties.png",
          "squirrel_cls.jpg", "starry_night.jpg", "stuff.jpg", "WindowsLogo.jpg", "HappyFish.jpg")
MAX_SIDE = 512
JPEG_QUALITY = 90
LICENCE = ("opencv-doc 4.6.0+dfsg-12: Debian's copyright file puts examples/data under OpenCV's 'Files: *' "
           "stanza: Apache-2.0 AND BSD-3-Clause; the photographs' origin is not stated")
README = """# personseg-scenes

{count} photographs with nobody in them (streets, buildings, aerial views, fruit, animals, graffiti, a
painting, desk clutter), used as composite backgrounds by `personseg train --composite P --backgrounds
scenes` (pipeline parameter `backgrounds=scenes`). No masks: every pixel is background. None of them is
one of the held-out real photographs (`datasets/real`); the basketball frames from the same package are
left out.

Layout: `images/<name>.jpg` (shrunk to fit {side} x {side}), `dataset.json` (this card as data).

## Source and licence

- {licence}

## Rebuild

    apt-get install opencv-doc
    PYTHONPATH=. .venv/bin/python scripts/build_scenes.py --out datasets/scenes
"""


def main(argv: list[str] | None = None) -> int:
    """Write ``--out`` (replaced whole, or left untouched if a photo is missing)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="datasets/scenes")
    p.add_argument("--source", default=str(OPENCV_DATA))
    args = p.parse_args(argv)
    source = Path(args.source)
    missing = [name for name in PHOTOS if not (source / name).is_file()]
    if missing:
        print(f"{source}: missing {', '.join(missing)} (apt-get install opencv-doc)", file=sys.stderr)
        return 1
    with atomic_dir(args.out, force=True) as tmp:  # the committed set it regenerates
        (tmp / "images").mkdir()
        for name in PHOTOS:
            with Image.open(source / name) as img:
                rgb = img.convert("RGB")
            rgb.thumbnail((MAX_SIDE, MAX_SIDE))
            rgb.save(tmp / "images" / f"{Path(name).stem}.jpg", quality=JPEG_QUALITY)
        write_json(tmp / "dataset.json", {
            "name": "personseg-scenes", "kind": "backgrounds (no people; no masks)", "counts": {"images": len(PHOTOS)},
            "max_side": MAX_SIDE, "licence": LICENCE,
            "origins": {Path(n).stem: f"opencv-doc examples/data/{n}" for n in PHOTOS},
            "built_with": "PYTHONPATH=. .venv/bin/python scripts/build_scenes.py --out datasets/scenes"})
        (tmp / "README.md").write_text(README.format(count=len(PHOTOS), side=MAX_SIDE, licence=LICENCE))
    print(f"wrote {len(PHOTOS)} photos to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
