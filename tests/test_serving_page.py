"""The page at / in headless Chromium: a photo chosen in its file input shows the server's own cutout; errors show."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import numpy as np
import pytest
from browser import CHROMIUM, Browser
from PIL import Image
from serving_fixtures import make_tiny_model, running_server

from personseg.serving.page import page_html
from personseg.serving.settings import ServeSettings

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "datasets" / "real" / "images" / "grace_hopper.jpg"
MAX_BYTES = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("page") / "tiny")
    settings = ServeSettings(model_uri=str(model), name="people", threads=1, batch_wait_ms=1, max_bytes=MAX_BYTES)
    with running_server(settings) as running:
        yield running


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]


def test_page_is_one_file_that_loads_nothing_from_elsewhere(server):
    r = httpx.get(f"{server.url}/", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    parser = _Urls()
    parser.feed(r.text)
    assert parser.urls == ["docs"]  # the API docs link; no script, style or font from anywhere
    assert not re.search(r"https?://", r.text) and 'data-model-name="people"' in r.text


def test_page_escapes_the_model_name():
    assert 'data-model-name="a&quot;&gt;&lt;script&gt;"' in page_html('a"><script>')


def _blob(browser: Browser, element: str) -> bytes:
    script = (f"fetch(document.getElementById('{element}').src).then(r => r.arrayBuffer()).then(b => "
              "{let s = ''; for (const x of new Uint8Array(b)) s += String.fromCharCode(x); return btoa(s);})")
    return base64.b64decode(browser.evaluate(script))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")
def test_a_photo_chosen_on_the_page_shows_the_servers_cutout_and_errors_show_the_servers_message(server, tmp_path):
    direct = httpx.post(f"{server.url}/v1/segment?output=cutout&alpha=clean", content=PHOTO.read_bytes(), timeout=30)
    assert direct.status_code == 200
    expected = np.asarray(Image.open(io.BytesIO(direct.content)))
    browser = Browser(tmp_path / "profile")
    try:
        browser.goto(f"{server.url}/")
        model = browser.wait_for("document.getElementById('model').textContent.includes('version') && "
                                 "document.getElementById('model').textContent")
        assert f"people, version {server.service.model.version} (onnxruntime_onnx)" in model
        browser.set_files("#file", PHOTO)
        browser.wait_for("document.body.dataset.state === 'done'")
        shown = np.asarray(Image.open(io.BytesIO(_blob(browser, "cutout"))))
        np.testing.assert_array_equal(shown, expected)  # the page shows the server's PNG, pixel for pixel
        mask = browser.evaluate("Array.from(document.getElementById('mask').getContext('2d')"
                                ".getImageData(0, 0, 256, 256).data.filter((_, i) => i % 4 === 0))")
        np.testing.assert_array_equal(np.asarray(mask, np.uint8).reshape(256, 256), expected[..., 3])
        status = browser.evaluate("document.getElementById('status').textContent")
        assert re.fullmatch(r"grace_hopper\.jpg: 256×256, latency \d+ ms", status), status
        assert browser.evaluate("document.getElementById('error').hidden")

        bad = tmp_path / "notes.jpg"
        bad.write_text("not a photo at all")
        message = httpx.post(f"{server.url}/v1/segment?output=cutout", content=bad.read_bytes()).json()["error"]
        browser.set_files("#file", bad)
        browser.wait_for("document.body.dataset.state === 'error'")
        assert browser.evaluate("document.getElementById('error').textContent") == message
        assert "not an image" in message and browser.evaluate("document.getElementById('views').hidden")

        big = tmp_path / "big.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (400, 400, 3), np.uint8)).save(big)
        assert big.stat().st_size > MAX_BYTES
        browser.set_files("#file", big)
        browser.wait_for("document.body.dataset.state === 'error' && "
                         "document.getElementById('error').textContent.includes('PERSONSEG_MAX_BYTES')")
    finally:
        browser.close()
