"""docs/results.md's peer tables: one per CPU kind (VNNI, AVX2), each between its own marker comments.

A table is written from a ``benchmarks/peers.py`` result file alone (machine, flags, date and command
are in it), so regenerating it needs no notes. Only the text between ``<!-- peers:KIND:begin -->`` and
``<!-- peers:KIND:end -->`` is replaced; the rest of the document is left as it is. A kind seen for the
first time gets a new section at the end.
"""

from __future__ import annotations

from personseg.bench.peer_report import cpu_kind, markdown
from personseg.errors import UserError


def markers(kind: str) -> tuple[str, str]:
    """The comments that fence the table of CPU ``kind``."""
    return f"<!-- peers:{kind}:begin -->", f"<!-- peers:{kind}:end -->"


def section(result: dict) -> str:
    """The generated text: where, when and how it was measured, then the peer table and its verdicts."""
    for key in ("date", "command", "cpu"):
        if key not in result:
            raise UserError(f"peers result: no {key!r}; it was written before peers.py recorded it, so run it again")
    cpu = result["cpu"]
    return (f"Measured {result['date']} on {cpu['model']} ({cpu['cores']} cores; flags {', '.join(cpu['flags'])}) "
            f"by `{result['command']}`; regenerate this table with `scripts/results_peers.py` on the new "
            "result file.\n\n" + markdown(result))


def replace_table(doc: str, result: dict) -> str:
    """``doc`` with the table of ``result``'s CPU kind replaced (or added at the end)."""
    kind = result.get("cpu_kind") or cpu_kind(result["cpu"]["flags"])
    begin, end = markers(kind)
    body = f"{begin}\n{section(result)}{end}"
    start, stop = doc.find(begin), doc.find(end)
    if (start < 0) != (stop < 0) or stop < start:
        raise UserError(f"results document: markers {begin} and {end} are not a begin/end pair")
    if start < 0:
        heading = f"## Other INT8 stacks on a {kind} CPU (`benchmarks/peers.py`)"
        return doc.rstrip("\n") + f"\n\n{heading}\n\n{body}\n"
    return doc[:start] + body + doc[stop + len(end):]
