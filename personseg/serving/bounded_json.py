"""Parse an untrusted JSON request body: nesting is bounded before any parser recurses.

Python's ``json`` recurses once per ``[`` or ``{``, so a body of ``[[[[...`` a few thousand deep raises
``RecursionError`` (a 500 and a traceback), and a parser on a thread with a small stack could crash the
process instead. The depth is counted first with C-speed byte operations: strings are cut out (a
bracket inside a string does not nest), then the running bracket count is taken with numpy. Up to the
first syntax error this count equals the parser's depth, so the bound holds for invalid JSON too.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from personseg.serving.errors import RequestError

MAX_DEPTH = 64  # a v2 inference request needs 7 (object, inputs list, tensor object, 4-D data)
# A string, or an unterminated one up to the end: the match never fails once at a quote (possessive,
# no backtracking), so scanning stays linear. Retrying from each quote after a failed match made
# '"' + '\\"' * 40000 take 25 s; the parser stops at an unterminated string anyway.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_depth(body: bytes) -> int:
    """The deepest ``[``/``{`` nesting in ``body``, outside strings (an upper bound if it is not JSON)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int8)
    return int(np.cumsum(steps, dtype=np.int32).max())


def load_json(body: bytes, what: str = "request body",
              parse_constant: Callable[[str], Any] | None = None) -> Any:
    """``json.loads(body)``, or a 400 ``RequestError`` naming ``what`` is wrong (never a 500)."""
    depth = nesting_depth(body)
    if depth > MAX_DEPTH:
        raise RequestError(f"{what}: JSON nested deeper than {MAX_DEPTH} levels ({depth})", kind="bad_json")
    try:
        return json.loads(body, parse_constant=parse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(f"{what} is not JSON ({exc})", kind="bad_json") from None
    except ValueError:  # int() refuses numbers over sys.get_int_max_str_digits() digits
        raise RequestError(f"{what}: a number has more than {sys.get_int_max_str_digits()} digits",
                           kind="bad_json") from None
