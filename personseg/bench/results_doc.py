"""docs/results.md's generated tables: per benchmark one per CPU kind (VNNI, AVX2), each between its own markers.

A table is written from a result file alone (machine, flags, date and command are in it): the peers
(``benchmarks/peers.py``) and the server against the bare model (``personseg bench serve --json``), so
regenerating it needs no notes. Only the text between ``<!-- TABLE:KIND:begin -->`` and
``<!-- TABLE:KIND:end -->`` is replaced; the rest of the document is left as it is. A kind seen for the
first time gets a new section at the end.
"""

from __future__ import annotations

from personseg.bench import serve_table
from personseg.bench.peer_report import cpu_kind, markdown
from personseg.errors import UserError

HEADINGS = {"peers": "Other INT8 stacks on a {kind} CPU (`benchmarks/peers.py`)",
            "serve": "Serving against the bare model on a {kind} CPU (`personseg bench serve`)"}


def markers(kind: str, table: str = "peers") -> tuple[str, str]:
    """The comments that fence ``table`` (``peers`` or ``serve``) of CPU ``kind``."""
    return f"<!-- {table}:{kind}:begin -->", f"<!-- {table}:{kind}:end -->"


def section(result: dict) -> str:
    """The generated text: where, when and how it was measured, then the peer table and its verdicts."""
    for key in ("date", "command", "cpu"):
        if key not in result:
            raise UserError(f"peers result: no {key!r}; it was written before peers.py recorded it, so run it again")
    cpu = result["cpu"]
    return (f"Measured {result['date']} on {cpu['model']} ({cpu['cores']} cores; flags {', '.join(cpu['flags'])}) "
            f"by `{result['command']}`; regenerate this table with `scripts/results_peers.py` on the new "
            "result file.\n\n" + markdown(result))


def replace_table(doc: str, result: dict, table: str = "peers") -> str:
    """``doc`` with ``table`` (``peers`` or ``serve``) of ``result``'s CPU kind replaced (or added at the end)."""
    if table not in HEADINGS:
        raise UserError(f"results document: no table {table!r}; known: {', '.join(HEADINGS)}")
    kind = result.get("cpu_kind") or cpu_kind(result["cpu"]["flags"])
    begin, end = markers(kind, table)
    body = f"{begin}\n{(section if table == 'peers' else serve_table.section)(result)}{end}"
    start, stop = doc.find(begin), doc.find(end)
    if (start < 0) != (stop < 0) or stop < start:
        raise UserError(f"results document: markers {begin} and {end} are not a begin/end pair")
    if start < 0:
        heading = "## " + HEADINGS[table].format(kind=kind)
        return doc.rstrip("\n") + f"\n\n{heading}\n\n{body}\n"
    return doc[:start] + body + doc[stop + len(end):]
