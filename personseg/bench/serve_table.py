"""The ``personseg bench serve`` result file as a docs/results.md table: latency, throughput, and where the time went.

Written from the JSON of ``bench serve --json`` alone (machine, flags, load, date and command are in
it), so regenerating the table needs no notes (``scripts/results_serve.py``).
"""

from __future__ import annotations

import numpy as np

from personseg.bench.thread_cpu import GROUPS
from personseg.errors import UserError
from personseg.serving.timeline import STAGES


def _spread(values: list[float], spec: str) -> str:
    if not values:
        return "-"
    return f"{format(float(np.median(values)), spec)} ({format(min(values), spec)} to {format(max(values), spec)})"


def markdown(result: dict) -> str:
    """Per concurrency over the rounds, latency and throughput; then per-request stage times and CPU.

    Ranges are the median with the lowest and highest round.
    """
    levels = result["levels"]
    concurrencies = list(dict.fromkeys(lv["concurrency"] for lv in levels))
    lines = ["| concurrency | images/s | p50 ms | p50 minus bare batch-1 latency, ms | vs bare batch 8 |",
             "|---|---|---|---|---|"]
    for c in concurrencies:
        own = [lv for lv in levels if lv["concurrency"] == c]
        lines.append(f"| {c} | {_spread([lv['images_per_s'] for lv in own], '.1f')} | "
                     f"{_spread([lv['p50_ms'] for lv in own], '.1f')} | "
                     f"{_spread(result['p50_over_bare_batch1_ms'].get(str(c), []), '+.1f')} | "
                     f"{_spread(result['round_ratios'][str(c)], '.2f')} |")
    stages = [s for s in STAGES if any(s in lv["stages_ms"] for lv in levels)]
    lines += ["", "Median over the rounds, per request (ms): the client's latency, the part outside the app, each "
              "stage inside it, and CPU time of the server process (split among its event loop, worker pool and "
              "model threads), the bare model per image at the server's mean batch and the client.", "",
              "| concurrency | client | outside | " + " | ".join(stages) + " | CPU server | loop | pool | model "
              "| CPU bare model | CPU client |",
              "|---|---|---|" + "---|" * len(stages) + "---|---|---|---|---|---|"]
    for c in concurrencies:
        own = [lv for lv in levels if lv["concurrency"] == c]

        def med(values: list[float]) -> str:
            return f"{float(np.median(values)):.1f}"

        model_cpu = [result["bare_cpu_ms"][lv["round"]].get(str(round(lv["mean_batch"])), 0.0) for lv in own]
        lines.append(f"| {c} | {med([lv['client_mean_ms'] for lv in own])} | {med([lv['outside_ms'] for lv in own])} | "
                     + " | ".join(med([lv["stages_ms"].get(s, 0.0) for lv in own]) for s in stages)
                     + f" | {med([lv['server_cpu_ms'] for lv in own])} | "
                     + " | ".join(med(split) if (split := [lv.get("server_threads_cpu_ms", {}).get(g) for lv in own
                                                            if g in lv.get("server_threads_cpu_ms", {})]) else "-"
                                  for g in GROUPS)
                     + f" | {med(model_cpu)} | {med([lv['client_cpu_ms'] for lv in own])} |")
    return "\n".join(lines) + "\n"


def section(result: dict) -> str:
    """Where, when, under which load and how it was measured, then the tables."""
    for key in ("date", "command", "cpu", "load", "bare_cpu_ms", "p50_over_bare_batch1_ms"):
        if key not in result:
            raise UserError(f"bench serve result: no {key!r}; it was written before bench serve recorded it, "
                            "so run it again")
    cpu, load = result["cpu"], result["load"]
    where = (f"Measured {result['date']} on {cpu['model']} ({cpu['cores']} cores; flags {', '.join(cpu['flags'])}), "
             f"load average (1 min) {load[0][0]:.1f} at the start and {load[-1][0]:.1f} at the end; model "
             f"{result['model_name']}; inputs {result['inputs']}; by `{result['command']}`. Regenerate with "
             "`scripts/results_serve.py` on the new `--json` file.")
    return where + "\n\n" + markdown(result)
