"""Every item of a paginated KFP list call, and the display-name filter the API understands."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

PAGE_SIZE = 100


def by_name(name: str) -> str:
    """A v2beta1 filter: ``display_name`` equals ``name``."""
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


def paged(call: Callable[..., Any], field: str, **kwargs: Any) -> list[Any]:
    """All items of ``call(**kwargs)``'s ``field`` across pages (the server caps a page)."""
    found: list[Any] = []
    token = ""
    while True:
        page = call(page_token=token, page_size=PAGE_SIZE, **kwargs)
        found += getattr(page, field) or []
        token = page.next_page_token or ""
        if not token:
            return found
