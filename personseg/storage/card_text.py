"""A model card as a few lines for people (``personseg models show``); ``--json`` prints the whole record.

The card keeps everything a run needs to be reproduced and checked, including every CPU flag and the
smoke probe's mask as a base64 PNG; a person reading it wants what, from which data, how good, where.
"""

from __future__ import annotations

from typing import Any


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _source(entry: Any) -> str:
    if not isinstance(entry, dict):
        return "-"
    sha = str(entry.get("sha256") or "")[:12]
    return f"{entry.get('uri', '-')}" + (f"  sha256 {sha}" if sha else "")


def card_lines(card: dict[str, Any], stages: list[str], status: dict[str, Any] | None) -> list[str]:
    """``models show``'s lines: identity, stages and status, model, data, scalar metrics, CPU, files."""
    model = card.get("model") or {}
    arch = model.get("arch") or {}
    arch_text = " ".join([str(arch.get("name", "?"))] + [f"{k}={v}" for k, v in sorted(arch.items()) if k != "name"])
    git = card.get("git") or {}
    metrics = card.get("metrics") or {}
    scalars = {k: v for k, v in sorted(metrics.items()) if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    others = len(metrics) - len(scalars)
    cpu = card.get("cpu") or {}
    smoke = card.get("smoke") or {}
    files = card.get("files") or {}
    total = sum(int(f.get("size", 0)) for f in files.values() if isinstance(f, dict))
    state = f"{status.get('status')} at {status.get('at')}" if status else "never deployed"
    lines = [
        f"{card.get('name')}:{card.get('version')}   stages: {', '.join(stages) or '-'}   deploy: {state}",
        f"created      {card.get('created', '-')}"
        + (f"   git {str(git.get('commit', ''))[:12]}{' (dirty)' if git.get('dirty') else ''}" if git else "")
        + (f"   pipeline run {card['pipeline_run_id']}" if card.get("pipeline_run_id") else ""),
        f"model        {model.get('kind', '?')} {model.get('precision', '?')} on {model.get('runtime', '?')}, "
        f"{model.get('image_size', '?')} px, {arch_text}",
        f"dataset      {_source(card.get('dataset'))}",
    ]
    if card.get("calibration"):
        lines.append(f"calibration  {_source(card.get('calibration'))}")
    lines.append("metrics      " + (", ".join(f"{k} {_short(v)}" for k, v in scalars.items()) or "-")
                 + (f" (+{others} more in --json)" if others else ""))
    if cpu:
        lines.append(f"cpu          {cpu.get('model', '?')}, {cpu.get('count', '?')} CPUs "
                     f"({len(cpu.get('flags') or [])} flags in --json)")
    if smoke.get("error"):
        lines.append(f"smoke probe  none: {smoke['error']}")
    elif smoke:
        lines.append(f"smoke probe  {smoke.get('probe')}, expected foreground {smoke.get('foreground_fraction')}")
    lines.append(f"files        {len(files)}, {_size(total)}")
    return lines
