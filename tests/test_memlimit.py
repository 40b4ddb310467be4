"""The cgroup memory limit as Kubernetes writes it: v2 memory.max, v1 memory.limit_in_bytes, or none."""

from pathlib import Path

import pytest

from personseg.memlimit import cgroup_memory_limit, process_rss


@pytest.mark.parametrize("files, expected", [
    ({"memory.max": "1610612736\n"}, 1536 * 1024 * 1024),
    ({"memory.max": "max\n"}, None),
    ({"memory/memory.limit_in_bytes": "1073741824\n"}, 1 << 30),
    ({"memory/memory.limit_in_bytes": "9223372036854771712\n"}, None),
    ({}, None),
])
def test_cgroup_memory_limit(tmp_path: Path, files: dict, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_memory_limit(tmp_path) == expected


def test_process_rss_is_this_process_size():
    assert 10 * 1024 * 1024 < process_rss() < 64 * 1024**3
