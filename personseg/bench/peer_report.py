"""The peer table as Markdown: heading with machine and versions, one row per stack, and a verdict.

The footer names the fastest INT8 row on this CPU (and whether it has VNNI), and whether that row's
test IoU is within half an IoU point of the FP32 seed, the project's quality target; then how the
fastest of ours on the swapped network compares with OpenVINO + NNCF of the unswapped seed (the target
is 1.15x), in the same run.
"""

from __future__ import annotations

from personseg.bench.runner import PEERS

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
IOU_TARGET = 0.005  # half an IoU point
OURS = ("ours", "ours-openvino")
SEED_PEER = "bilinear nncf"
OVER_SEED_NNCF_TARGET = 1.15


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _row(m: dict, baseline: str) -> str:
    label = PEERS.get(m["peer"], (m["precision"], m["peer"]))[1]
    name = m["name"] + (" (baseline)" if m["name"] == baseline else "")
    if m.get("reason"):
        return f"| {name} | {label} | {m['precision']} | - | - | - | - | - | - | - | not run: {m['reason']} |"
    lat = m["latency_ms"]
    agree = "-" if m.get("agreement_iou") is None else (
        f"{m['agreement_iou']:.4f}" + (" (itself)" if m["agreement_with"] == m["name"] else ""))
    peak = m.get("fraction_of_peak")
    return (f"| {name} | {label} | {m['precision']} | {m['iou']:.4f} | {agree} | {lat['median']:.1f} "
            f"| {lat['min']:.0f}-{lat['max']:.0f} | {m['speedup']:.2f}x | {_fmt(m.get('achieved_gops'), '.0f')} "
            f"| {_fmt(peak * 100 if peak is not None else None, '.0f')} | |")


def verdict(result: dict) -> str:
    """Which INT8 row is fastest here, on which kind of CPU, and whether it keeps the seed's quality."""
    cpu = result["cpu"]
    vnni = [f for f in cpu["flags"] if f in VNNI_FLAGS]
    where = f"{cpu['model']}, " + (f"with VNNI ({', '.join(vnni)})" if vnni else "no VNNI")
    ran = [m for m in result["models"] if m["precision"] == "int8" and not m.get("reason")]
    if not ran:
        return f"No INT8 row ran on this CPU ({where})."
    best = min(ran, key=lambda m: m["latency_ms"]["median"])
    seed = next(m for m in result["models"] if m["name"] == result["baseline"])
    loss = seed["iou"] - best["iou"]
    within = "within" if loss <= IOU_TARGET else "not within"
    return (f"Fastest INT8 on this CPU ({where}): **{best['name']}** ({PEERS.get(best['peer'], ('', ''))[1]}), "
            f"{best['latency_ms']['median']:.1f} ms per batch, {best['speedup']:.2f}x; its test IoU "
            f"{best['iou']:.4f} is {within} 0.5 points of the FP32 seed ({seed['name']}, {seed['iou']:.4f}).")


def against_seed_nncf(result: dict) -> str | None:
    """The fastest of our rows on a swapped network against NNCF INT8 of the seed (None without both)."""
    ran = {m["name"]: m for m in result["models"] if not m.get("reason")}
    ours = [m for m in ran.values() if m["peer"] in OURS and m["network"] != "bilinear"]
    if not ours or SEED_PEER not in ran:
        return None
    best = min(ours, key=lambda m: m["latency_ms"]["median"])
    ratio = ran[SEED_PEER]["latency_ms"]["median"] / best["latency_ms"]["median"]
    meets = "meets" if ratio >= OVER_SEED_NNCF_TARGET else "misses"
    return (f"Fastest of ours on the swapped network: **{best['name']}**, {ratio:.2f}x as fast as {SEED_PEER} "
            f"(OpenVINO + NNCF INT8 of the unswapped seed; {ran[SEED_PEER]['latency_ms']['median']:.1f} vs "
            f"{best['latency_ms']['median']:.1f} ms): {meets} the {OVER_SEED_NNCF_TARGET:.2f}x target.")


def markdown(result: dict) -> str:
    """Heading, table and verdict."""
    cpu, data = result["cpu"], result["data"]
    versions = ", ".join(f"{k} {v or 'not installed'}" for k, v in result["versions"].items())
    peak = cpu.get("peak")
    lines = [
        f"Batch {result['batch_size']}, {result['image_size']}x{result['image_size']}, {result['threads']} threads, "
        f"{result['rounds']} interleaved rounds (all rows in one process) on {cpu['model']} "
        f"({', '.join(cpu['flags'])}; {cpu['cores']} cores); quality on {data['samples']} images of the "
        f"{data['split']} split of {data['uri']}; speedup against {result['baseline']} in the same run.",
        f"Libraries: {versions}.",
    ]
    if peak:
        lines.append(f"Measured GEMM peak on these threads: FP32 {peak['fp32_gflops']:.0f} GFLOP/s, "
                     f"INT8 {peak['int8_gops']:.0f} GOP/s (ONNX Runtime's MLAS kernels, best of trials; another "
                     "runtime's kernels can pass 100 %).")
    lines += [
        "",
        "| row | stack | precision | IoU (test) | agreement IoU vs FP32 eager of same network | median ms/batch "
        "| spread ms (min-max) | speedup | GOP/s | % of peak | note |",
        "|---" * 11 + "|",
        *(_row(m, result["baseline"]) for m in result["models"]),
        "",
        verdict(result),
    ]
    seed_nncf = against_seed_nncf(result)
    if seed_nncf:
        lines += ["", seed_nncf]
    return "\n".join(lines) + "\n"
