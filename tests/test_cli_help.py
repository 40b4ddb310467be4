"""Every command's help: each flag explained with its default, plain text, and errors named by full command."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from personseg.cli import build_parser, main
from personseg.commands._help import HelpFormatter, _shows_default


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
              ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, inner in action.choices.items():
                yield from _commands(inner, (*path, name))


COMMANDS = dict(_commands(build_parser()))


def test_every_argument_of_every_command_has_help() -> None:
    missing = [f"{path} {a.option_strings or a.dest}" for path, parser in COMMANDS.items() for a in parser._actions
               if not a.help and not isinstance(a, argparse._SubParsersAction)]
    assert not missing


@pytest.mark.parametrize("path", ["train", "swap", "evaluate", "quantize", "data synthetic"])
def test_help_states_each_default(path: str) -> None:
    parser = COMMANDS[path]
    assert issubclass(parser.formatter_class, HelpFormatter)
    text = " ".join(parser.format_help().split())
    shown = [a for a in parser._actions if _shows_default(a)]
    assert shown, f"{path}: no flag shows a default"
    for action in shown:
        assert f"(default: {action.default})" in text, (path, action.option_strings)


def test_help_reads_as_plain_text() -> None:
    top = COMMANDS[""]
    assert "command line" not in top.description and "``" not in top.description
    for path, parser in COMMANDS.items():
        assert "``" not in parser.format_help(), path


def test_an_error_names_the_whole_sub_command(tmp_path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "synthetic", str(tmp_path / "out"), "--count", "0"]) == 2
    assert capsys.readouterr().err.startswith("personseg data synthetic: error: --count 0")
