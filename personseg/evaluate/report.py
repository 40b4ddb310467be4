"""The evaluation report as a Markdown table: the same figures as the JSON, for people and the UI."""

from __future__ import annotations


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _agreement(m: dict) -> str:
    """The agreement cell names its reference: ``0.9894 vs bilinear-onnx-fp32``, ``1.0000 (itself)``, ``-``."""
    value, ref = m.get("agreement_iou"), m.get("agreement_with")
    if value is None:
        return "-"
    if ref is None:  # written before agreement_with existed, when agreement compared with the row above
        return f"{value:.4f} (vs row above)"
    return f"{value:.4f} (itself)" if ref == m["name"] else f"{value:.4f} vs {ref}"


def _peak(peak: dict | None) -> str:
    """Heading sentence on the GEMM peak: best of the trials, and their spread when recorded."""
    if not peak:
        return ""
    spread = ""
    if peak.get("fp32_gflops_trials") and peak.get("int8_gops_trials"):
        fp32, int8 = peak["fp32_gflops_trials"], peak["int8_gops_trials"]
        spread = (f" (best of {len(fp32)} trials after a warm-up; trials FP32 {min(fp32):.0f}-{max(fp32):.0f}, "
                  f"INT8 {min(int8):.0f}-{max(int8):.0f})")
    return (f" Measured GEMM peak on these threads: FP32 {peak['fp32_gflops']:.0f} GFLOP/s, "
            f"INT8 {peak['int8_gops']:.0f} GOP/s{spread}.")


def markdown_table(result: dict) -> str:
    """Markdown: one row per model, speedups against the baseline, with machine and settings."""
    cpu = result["cpu"]
    extra = result.get("extra_data")
    lines = [
        f"Batch {result['batch_size']}, {result['image_size']}x{result['image_size']}, {result['threads']} threads, "
        f"{result['rounds']} interleaved rounds on {cpu['model']} ({', '.join(cpu['flags'])}); "
        f"quality on {result['data']['samples']} images ({result['data']['split']} split) of {result['data']['uri']}"
        + (f"; extra: {extra['samples']} images ({extra['split']}) of {extra['uri']}" if extra else "") + "."
        + _peak(cpu.get("peak")),
        "",
        "| model | kind | IoU | Dice | boundary F | " + ("IoU (extra) | " if extra else "")
        + "agreement IoU vs FP32 of same network | median ms/batch | p90 ms | images/s | speedup | GFLOP/img | GOP/s "
        "| % of peak |",
        "|---" * (14 if extra else 13) + "|",
    ]
    for m in result["models"]:
        lines.append(
            f"| {m['name']}{' (baseline)' if m['name'] == result['baseline'] else ''} "
            f"| {m['kind']} {m['precision']} | {m['iou']:.4f} | {m['dice']:.4f} | {_fmt(m.get('boundary_f'), '.4f')} "
            + (f"| {_fmt((m.get('extra') or {}).get('iou'), '.4f')} " if extra else "") +
            f"| {_agreement(m)} | {m['latency_ms']['median']:.1f} | {m['latency_ms']['p90']:.1f} "
            f"| {m['images_per_s']:.1f} | {m['speedup']:.2f}x | {_fmt(m.get('gflops'), '.2f')} "
            f"| {_fmt(m.get('achieved_gops'), '.0f')} "
            f"| {_fmt(m['fraction_of_peak'] * 100 if m.get('fraction_of_peak') is not None else None, '.0f')} |"
        )
    return "\n".join(lines) + "\n"
