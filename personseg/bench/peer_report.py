"""The peer table as Markdown: heading with machine and versions, one row per stack, and a verdict.

The footer names the fastest INT8 row on this CPU (and whether it has VNNI), and whether that row's
test IoU is within half an IoU point of the FP32 seed, the project's quality target; then how the
fastest of ours on each leaner network (swapped or pruned) compares with OpenVINO + NNCF of the
unswapped seed in the same run: the target is 1.5x as fast with test IoU within one point of the FP32
seed, and at least as fast as NNCF of the same network at equal or better agreement.
"""

from __future__ import annotations

from personseg.bench.runner import PEERS

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
IOU_TARGET = 0.005  # half an IoU point
OURS = ("ours", "ours-openvino")
SEED_PEER = "bilinear nncf"
OVER_SEED_NNCF_TARGET = 1.5
LEAN_IOU_TARGET = 0.01  # one IoU point against the FP32 seed


def cpu_kind(flags: list[str]) -> str:
    """``VNNI`` when the CPU has an INT8 dot-product instruction, else ``AVX2`` or ``no AVX2``: one table each."""
    if any(f in VNNI_FLAGS for f in flags):
        return "VNNI"
    return "AVX2" if "avx2" in flags else "no AVX2"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _row(m: dict, baseline: str) -> str:
    label = PEERS.get(m["peer"], (m["precision"], m["peer"]))[1]
    name = m["name"] + (" (baseline)" if m["name"] == baseline else "")
    if m.get("reason"):
        return f"| {name} | {label} | {m['precision']} |" + " - |" * 10 + f" not run: {m['reason']} |"
    lat = m["latency_ms"]
    agree = "-" if m.get("agreement_iou") is None else (
        f"{m['agreement_iou']:.4f}" + (" (itself)" if m["agreement_with"] == m["name"] else ""))
    peak = m.get("fraction_of_peak")
    params = m.get("params")
    return (f"| {name} | {label} | {m['precision']} | {_fmt(m.get('gflops'), '.2f')} "
            f"| {_fmt(params / 1e6 if params else None, '.3f')} | {m['iou']:.4f} | {_fmt(m.get('extra_iou'), '.4f')} "
            f"| {agree} | {lat['median']:.1f} "
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
    """Per leaner network, the fastest of our rows against NNCF INT8 of the seed (None without both).

    One line per network (swapped or pruned): speed over the seed's NNCF row, test IoU against the FP32
    seed, and speed and agreement against NNCF of the same network when that row ran.
    """
    ran = {m["name"]: m for m in result["models"] if not m.get("reason")}
    ours = [m for m in ran.values() if m["peer"] in OURS and m["network"] != "bilinear"]
    if not ours or SEED_PEER not in ran:
        return None
    seed_ms = ran[SEED_PEER]["latency_ms"]["median"]
    seed = ran.get(result.get("baseline", ""))
    lines = []
    for network in dict.fromkeys(m["network"] for m in ours):
        best = min((m for m in ours if m["network"] == network), key=lambda m: m["latency_ms"]["median"])
        ratio = seed_ms / best["latency_ms"]["median"]
        fast = "meets" if ratio >= OVER_SEED_NNCF_TARGET else "misses"
        line = (f"- **{best['name']}**: {ratio:.2f}x as fast as {SEED_PEER} (OpenVINO + NNCF INT8 of the unswapped "
                f"seed; {seed_ms:.1f} vs {best['latency_ms']['median']:.1f} ms): {fast} the "
                f"{OVER_SEED_NNCF_TARGET:.2f}x target")
        if seed is not None and "iou" in best:
            loss = seed["iou"] - best["iou"]
            within = "within" if loss <= LEAN_IOU_TARGET else "not within"
            line += (f"; test IoU {best['iou']:.4f} against the FP32 seed's {seed['iou']:.4f} ({loss * 100:.2f} "
                     f"points lost), {within} 1 point")
        same = ran.get(f"{network} nncf")
        if same is not None:
            speed = same["latency_ms"]["median"] / best["latency_ms"]["median"]
            line += (f"; {speed:.2f}x the speed of {same['name']} at agreement "
                     f"{_fmt(best.get('agreement_iou'), '.4f')} against its {_fmt(same.get('agreement_iou'), '.4f')}")
        lines.append(line + ".")
    return "Ours on each leaner network against the off-the-shelf peers, same run:\n\n" + "\n".join(lines)


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
        "| row | stack | precision | GFLOP/img | params (M) | IoU (test) | IoU (real photos) "
        "| agreement IoU vs FP32 eager of same network | median ms/batch | spread ms (min-max) | speedup | GOP/s "
        "| % of peak | note |",
        "|---" * 14 + "|",
        *(_row(m, result["baseline"]) for m in result["models"]),
        "",
        verdict(result),
    ]
    seed_nncf = against_seed_nncf(result)
    if seed_nncf:
        lines += ["", seed_nncf]
    return "\n".join(lines) + "\n"
