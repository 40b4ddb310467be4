"""The gallery page: cut-outs, the speed/IoU chart, and every image it names embedded (and decodable)."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from personseg.steps import gallery

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Refs(HTMLParser):
    """Every attribute that points at something to load (src, href, xlink:href), and the section titles."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "srcset")]
        self._in_h2 = tag == "h2"

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def test_cutout_keeps_the_person_and_checkers_the_rest() -> None:
    img = np.full((16, 16, 3), 7, np.uint8)
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    out = gallery.cutout(img, mask, square=8)
    assert (out[mask] == 7).all()
    assert tuple(out[0, 0]) == (204,) * 3 and tuple(out[0, 8]) == (255,) * 3 and tuple(out[8, 8]) == (204,) * 3
    assert not (out[~mask] == 7).any()


def test_speed_chart_draws_one_bar_per_model_in_proportion() -> None:
    result = {"batch_size": 8, "threads": 2, "models": [
        {"name": "bilinear", "images_per_s": 10.0, "speedup": 1.0, "iou": 0.8},
        {"name": "int8", "images_per_s": 40.0, "speedup": 4.0, "iou": 0.79, "extra": {"iou": 0.5}}]}
    svg = gallery.speed_chart_svg(result)
    widths = [float(part.split('"')[0]) for part in svg.split('<rect x="170" y="')[1:]
              for part in [part.split('width="')[1]]]
    assert len(widths) == 2 and widths[1] == pytest.approx(4 * widths[0])
    assert "40.0/s (x4.00), IoU 0.790, 0.500 second set" in svg and "IoU 0.800<" in svg
    assert "No timing results" in gallery.speed_chart_svg({"models": []})


@pytest.fixture(scope="module")
def page(tiny_dataset: Path, tiny_model: Path, tiny_onnx_fp32: Path, tiny_int8: Path) -> str:
    result = {"batch_size": 8, "threads": 2, "models": [
        {"name": "bilinear", "images_per_s": 10.0, "speedup": 1.0, "iou": 0.8},
        {"name": "int8", "images_per_s": 30.0, "speedup": 3.0, "iou": 0.8}]}
    real = Path(__file__).resolve().parents[1] / "datasets" / "real"
    return gallery.build_gallery(tiny_dataset, 64, [("bilinear FP32", tiny_model), ("swapped FP32", tiny_onnx_fp32),
                                                    ("INT8", tiny_int8)], ("swapped FP32", "INT8"),
                                 history=[{"epoch": 1, "loss": 0.5, "val_iou": 0.5}], count=3,
                                 extra=("real", real), result=result)


def test_gallery_embeds_every_image_it_names_and_shows_the_eye_catchers_first(page: str) -> None:
    parser = _Refs()
    parser.feed(page)
    assert parser.refs, "the gallery names no image"
    for ref in parser.refs:  # nothing is fetched from elsewhere: the KFP UI shows the artifact on its own
        assert ref.startswith("data:image/png;base64,"), ref[:60]
        picture = Image.open(io.BytesIO(base64.b64decode(ref.split(",", 1)[1])))
        assert picture.size == (64, 64)
    # 3 real + 3 test rows, each: image, cut-out, truth, 3 masks, difference
    assert len(parser.refs) == 6 * 7
    assert parser.headings == ["Speed and quality", "Second evaluation set: real", "Test images", "Training curve"]
    assert page.count("cut-out (INT8)") == 2 and "<svg" in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")
def test_gallery_renders_in_headless_chromium_with_every_image_decoded(page: str, tmp_path: Path) -> None:
    # the browser, not our parser, decides whether each image decodes; a script writes the verdict into the DOM
    check = ("<script>window.addEventListener('load',()=>{const i=[...document.images];"
             "document.body.setAttribute('data-images',i.length);"
             "document.body.setAttribute('data-broken',i.filter(x=>!x.complete||x.naturalWidth===0).length);});"
             "</script>")
    path = tmp_path / "gallery.html"
    path.write_text(page.replace("</body>", check + "</body>"))
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                          "--no-first-run", "--disable-background-networking", "--disable-component-update",
                          "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                          "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'data-images="42"' in out.stdout and 'data-broken="0"' in out.stdout, out.stdout[:500]
