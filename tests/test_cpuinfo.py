"""``personseg.cpuinfo``: the one reader of /proc/cpuinfo, its report summary and its model-card entry."""

from __future__ import annotations

import os
from pathlib import Path

from personseg.cpuinfo import SPEED_FLAGS, cpu_info

ROOT = Path(__file__).resolve().parents[1]
TWO_CPUS = ("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: sse avx2 fma avx512_vnni sse4_2 ht\n\n"
            "processor\t: 1\nmodel name\t: other\nflags\t: x\n")


def test_reads_the_first_cpu(tmp_path: Path) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text(TWO_CPUS)
    info = cpu_info(fake)
    assert info.model == "Test CPU 9000" and info.flags == {"sse", "avx2", "fma", "avx512_vnni", "sse4_2", "ht"}
    assert info.card() == {"model": "Test CPU 9000", "flags": ["avx2", "avx512_vnni", "fma", "ht", "sse", "sse4_2"],
                           "count": os.cpu_count()}
    # reports list only the speed flags, in SPEED_FLAGS order, and the cores this process may use
    assert info.summary() == {"model": "Test CPU 9000", "flags": ["avx2", "fma", "avx512_vnni", "sse4_2"],
                              "cores": len(os.sched_getaffinity(0))}


def test_arm_features_and_a_missing_file(tmp_path: Path) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nFeatures\t: fp asimd sve\n\nprocessor\t: 1\nFeatures\t: fp\n")
    assert cpu_info(fake).card()["flags"] == ["asimd", "fp", "sve"]
    missing = cpu_info(tmp_path / "missing")
    assert missing.card() is None and missing.summary()["flags"] == [] and missing.summary()["model"]


def test_this_machine_has_a_summary() -> None:
    summary = cpu_info().summary()
    assert summary["model"] and summary["cores"] >= 1 and set(summary["flags"]) <= set(SPEED_FLAGS)


def test_nothing_else_reads_proc_cpuinfo() -> None:
    """Benchmarks, the evaluate step and the card all go through personseg/cpuinfo.py."""
    readers = [str(p.relative_to(ROOT)) for top in ("personseg", "personseg_kfp", "benchmarks", "scripts")
               for p in sorted((ROOT / top).rglob("*.py"))
               if "/proc/cpuinfo" in p.read_text() or "lscpu" in p.read_text()]
    assert readers == ["personseg/cpuinfo.py"]
