"""The load test's lean HTTP client against the real server: answers, errors, and keep-alive."""

import asyncio

import httpx
import pytest
from serving_fixtures import encode, make_tiny_model, running_server, split_image

from personseg.bench.http_load import Connection
from personseg.serving.settings import ServeSettings


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("http-load") / "tiny")
    with running_server(ServeSettings(model_uri=str(model), threads=1)) as running:
        yield running


def test_answers_match_httpx_and_errors_keep_the_connection(server):
    image = encode(split_image())
    expected = httpx.post(f"{server.url}/v1/segment?output=mask", content=image, timeout=10).content

    async def session():
        connection = Connection(server.url)
        first = await connection.post("/v1/segment?output=mask", image)
        writer = connection.writer
        bad = await connection.post("/v1/segment", b"not an image")
        again = await connection.post("/v1/segment?output=mask", image)
        reused = connection.writer is writer
        connection.close()
        return first, bad, again, reused

    first, bad, again, reused = asyncio.run(session())
    assert first == (200, expected) and again == (200, expected)
    assert bad[0] == 400 and b"not an image" in bad[1]
    assert reused  # one keep-alive connection for all three


def test_only_http_urls():
    with pytest.raises(ValueError, match="expected http://host:port"):
        Connection("https://127.0.0.1:1")
