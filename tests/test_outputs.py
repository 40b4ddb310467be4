"""No command deletes what it did not create: every writer refuses a folder holding a user's file unless --force.

Each command that writes a folder or a file runs against one that already holds ``thesis.txt``. Without
``--force`` it exits 2 with one line naming the output and the flag, and the file is untouched; with it
the output is replaced whole. Odd names get a clear error and leave nothing behind, and what is written
gets the permissions a plain ``mkdir``/``open`` gives under the caller's umask.
"""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from personseg.atomic import atomic_dir
from personseg.cli import main
from personseg.errors import UserError

PRECIOUS = "my thesis, three years of work\n"


def _matte_source(root: Path) -> Path:
    src = root / "mattes"
    src.mkdir(parents=True, exist_ok=True)
    alpha = np.zeros((16, 16), np.uint8)
    alpha[4:12, 4:12] = 255
    Image.fromarray(np.dstack([np.full((16, 16, 3), 90, np.uint8), alpha]), mode="RGBA").save(src / "p1.png")
    return src


class Inputs:
    """What the commands read; the trained model and its dataset are built only when a command asks."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self._request = request
        self.mattes = _matte_source(tmp_path / "inputs")
        self.photos = tmp_path / "inputs" / "photos"
        self.photos.mkdir(parents=True)
        Image.new("RGB", (16, 16), (1, 2, 3)).save(self.photos / "a.jpg")

    @property
    def data(self) -> Path:
        return self._request.getfixturevalue("tiny_dataset")

    @property
    def model(self) -> Path:
        return self._request.getfixturevalue("tiny_model")


@pytest.fixture
def inputs(request: pytest.FixtureRequest, tmp_path: Path) -> Inputs:
    return Inputs(request, tmp_path)


# Every command that writes a folder: its arguments for an output folder, and a file that shows it wrote one.
FOLDER_WRITERS: dict[str, tuple[Callable[[Path, Inputs], list[str]], str]] = {
    "data synthetic": (lambda out, i: ["data", "synthetic", str(out), "--count", "4", "--size", "32"], "images"),
    "data demo": (lambda out, i: ["data", "demo", str(out), "--which", "people", "--size", "32"], "dataset.json"),
    "data import": (lambda out, i: ["data", "import", "--format", "matte", str(i.mattes), str(out)],
                    "dataset.json"),
    "data label": (lambda out, i: ["data", "label", "--teacher", "mediapipe", str(i.photos), str(out)],
                   "dataset.json"),
    "train": (lambda out, i: ["train", "--data", str(i.data), "--out", str(out), "--width", "8", "--size", "64",
                              "--epochs", "1", "--threads", "1", "--workers", "0",
                              "--checkpoint-dir", str(out.parent / "ckpt")], "model.safetensors"),
    "export": (lambda out, i: ["export", "--model", str(i.model), "--out", str(out)], "model.onnx"),
    "swap": (lambda out, i: ["swap", "--model", str(i.model), "--data", str(i.data), "--out", str(out),
                             "--epochs", "0"], "model.safetensors"),
    "quantize": (lambda out, i: ["quantize", "--model", str(i.model), "--data", str(i.data), "--out", str(out),
                                 "--calibration", "8", "--max-trials", "1"], "model.onnx"),
    "models pull": (lambda out, i: ["models", "pull", "personseg@production", str(out)], "model-card.json"),
}
# These need what the test environment lacks (the MediaPipe teacher; an S3 store): refusal only, here.
# models pull --force is covered by test_storage_registry, data label's writing by test_labeling_label.
REFUSAL_ONLY = {"data label", "models pull"}


def _users_folder(tmp_path: Path) -> Path:
    mine = tmp_path / "work" / "mine"
    mine.mkdir(parents=True)
    (mine / "thesis.txt").write_text(PRECIOUS)
    return mine


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("command", list(FOLDER_WRITERS))
def test_a_users_folder_is_refused_and_kept(command: str, inputs: Inputs, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    mine = _users_folder(tmp_path)
    argv, _ = FOLDER_WRITERS[command]
    assert main(argv(mine, inputs)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"personseg {command}: error: "), err
    assert f"{mine}: already exists and is not empty; pass --force to replace it" in err
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"] and (mine / "thesis.txt").read_text() == PRECIOUS
    assert sorted(p.name for p in mine.parent.iterdir()) == ["mine"]


@pytest.mark.parametrize("command", [c for c in FOLDER_WRITERS if c not in REFUSAL_ONLY])
def test_force_replaces_the_folder_whole(command: str, inputs: Inputs, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    mine = _users_folder(tmp_path)
    argv, written = FOLDER_WRITERS[command]
    assert main([*argv(mine, inputs), "--force"]) == 0, capsys.readouterr().err
    assert (mine / written).exists() and not (mine / "thesis.txt").exists()
    assert _leftovers(mine.parent) == []


@pytest.mark.parametrize("command", ["data synthetic", "data demo", "data import", "export"])  # one code path
def test_an_empty_folder_is_used_without_force(command: str, inputs: Inputs, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "work" / "empty"
    empty.mkdir(parents=True)
    argv, written = FOLDER_WRITERS[command]
    assert main(argv(empty, inputs)) == 0, capsys.readouterr().err
    assert (empty / written).exists()


@pytest.mark.parametrize("command", ["evaluate", "bench serve"])
def test_a_report_file_is_refused_and_kept(command: str, tiny_model: Path, tiny_dataset: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    report = tmp_path / "mine.json"
    report.write_text(PRECIOUS)
    if command == "evaluate":
        argv = ["evaluate", "--model", str(tiny_model), "--data", str(tiny_dataset), "--report", str(report)]
    else:
        argv = ["bench", "serve", "--model", str(tiny_model), "--json", str(report)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"personseg {command}: error: --{argv[-2].lstrip('-')} {report}: already exists; pass --force " \
                  "to replace it\n"
    assert report.read_text() == PRECIOUS


def test_evaluate_force_replaces_its_report(tiny_model: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    report = tmp_path / "mine.json"
    report.write_text(PRECIOUS)
    assert main(["evaluate", "--model", str(tiny_model), "--data", str(tiny_dataset), "--report", str(report),
                 "--rounds", "1", "--force"]) == 0
    assert report.read_text() != PRECIOUS and report.with_suffix(".md").is_file()


@pytest.fixture
def inside(tmp_path: Path) -> Iterator[Path]:
    here = tmp_path / "here"
    here.mkdir()
    before = os.getcwd()
    os.chdir(here)
    try:
        yield here
    finally:
        os.chdir(before)


@pytest.mark.parametrize("odd", [".", "./", "..", "", "thesis.txt", "thesis.txt/sub"])
def test_odd_outputs_get_a_clear_error_and_leave_nothing(odd: str, inside: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    (inside / "thesis.txt").write_text(PRECIOUS)
    assert main(["data", "synthetic", odd, "--count", "2", "--size", "32", "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("personseg data synthetic: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and repr(odd).strip("'") in err
    assert sorted(p.name for p in inside.iterdir()) == ["thesis.txt"]
    assert sorted(p.name for p in inside.parent.iterdir()) == ["here"]
    assert (inside / "thesis.txt").read_text() == PRECIOUS


def test_a_failed_write_leaves_nothing_and_keeps_what_was_there(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "a" / "b" / "out") as tmp:
        (tmp / "half").write_text("written")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []  # the parents it created went with it
    mine = _users_folder(tmp_path)
    with pytest.raises(RuntimeError), atomic_dir(mine, force=True) as tmp:
        raise RuntimeError("disk full")
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"] and _leftovers(mine.parent) == []


def test_a_folder_that_appears_while_working_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(UserError, match="already exists and is not empty"), atomic_dir(out):
        out.mkdir()
        (out / "thesis.txt").write_text(PRECIOUS)
    assert (out / "thesis.txt").read_text() == PRECIOUS and _leftovers(tmp_path) == []


def _modes(root: Path) -> tuple[set[int], set[int]]:
    dirs, files = {stat.S_IMODE(root.stat().st_mode)}, set()
    for path in root.rglob("*"):
        (dirs if path.is_dir() else files).add(stat.S_IMODE(path.stat().st_mode))
    return dirs, files


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_follow_the_umask(umask: int, inputs: Inputs, tmp_path: Path) -> None:
    old = os.umask(umask)
    try:
        for command in ("data synthetic", "data demo", "data import", "train", "export"):
            out = tmp_path / command.replace(" ", "-")
            argv, _ = FOLDER_WRITERS[command]
            assert main(argv(out, inputs)) == 0, command
            assert _modes(out) == ({0o777 & ~umask}, {0o666 & ~umask}), command
    finally:
        os.umask(old)


def _options(parser: argparse.ArgumentParser, path: str = "personseg") -> Iterator[tuple[str, str]]:
    """(command, option string) of every option a command's help shows, sub-commands included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{path} {name}")
        elif action.help != argparse.SUPPRESS:
            yield from ((path, option) for option in action.option_strings)


def test_replacing_an_output_is_force_in_every_commands_help() -> None:
    from personseg.cli import build_parser

    shown = list(_options(build_parser()))
    assert not [(command, option) for command, option in shown if option == "--overwrite"]
    assert {"personseg segment", "personseg data push"} <= {command for command, option in shown if option == "--force"}
