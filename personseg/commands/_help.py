"""How every command's help reads: defaults shown, docstring markup dropped, errors named by full command."""

from __future__ import annotations

import argparse
import re

_LITERAL = re.compile(r"``(.+?)``", re.S)


def plain(text: str) -> str:
    """``x`` (reStructuredText literals, from module docstrings used as descriptions) as 'x'."""
    return _LITERAL.sub(r"'\1'", text)


def _shows_default(action: argparse.Action) -> bool:
    """A default worth printing: not absent, not a switch's False/True, not already in the help."""
    default = action.default
    if default is None or default is argparse.SUPPRESS or isinstance(default, bool) or default in ("", [], ()):
        return False
    if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
        return False
    return "default" not in (action.help or "").lower()


class HelpFormatter(argparse.HelpFormatter):
    """Adds ``(default: X)`` to each flag whose help does not already say its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        return f"{text} (default: %(default)s)" if _shows_default(action) else text

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(plain(text), width, indent)


class RawHelpFormatter(HelpFormatter):
    """As ``HelpFormatter``, keeping the description's and epilog's line breaks (for tables of flags)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "".join(indent + line for line in plain(text).splitlines(keepends=True))


class CommandParser(argparse.ArgumentParser):
    """A parser whose sub-commands share its formatter and record their full name (``personseg data import``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.set_defaults(prog=self.prog)  # the innermost sub-command's value wins when parsed
