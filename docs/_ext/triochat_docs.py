"""Sphinx directives that generate pages from triochat's own code, so they never drift.

``triochat-cli``
    The options of a ``triochat`` command, read from the argument parser that
    the command line itself uses (:func:`triochat.cli.build_parser`)::

        ```{triochat-cli} serve
        ```

    Each option becomes a ``std:option`` (link to it with
    ``{option}`triochat serve --store```).

``triochat-settings``
    A table of every :class:`~triochat.ServerConfig` field: its default, the
    ``triochat serve`` flag that sets it, and its docstring.

``triochat-metrics``
    A table of every metric ``GET /metrics`` answers, scraped from a real
    server that the build starts on loopback (its names, types, labels and
    help texts are the collector's own).

All three build reStructuredText and parse it as such, also inside a Markdown
(MyST) page, the way MyST's own ``eval-rst`` does.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import importlib.util
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from docutils import nodes
from docutils.parsers.rst import Parser
from docutils.utils import new_document
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docstrings import prepare_docstring
from sphinx.util.docutils import SphinxDirective

_RST_SPECIAL = re.compile(r"([\\`*_|\[\]<>])")


def escape(text: str) -> str:
    """*text* as plain reStructuredText, markup characters escaped."""
    return _RST_SPECIAL.sub(r"\\\1", text)


def indent(text: str, prefix: str = "   ") -> str:
    """Every line of *text* indented by *prefix* (blank lines stay blank)."""
    return "\n".join(prefix + line if line.strip() else "" for line in text.splitlines())


class _RstDirective(SphinxDirective):
    """A directive whose output is reStructuredText it builds itself."""

    def rst(self) -> str:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        source = self.rst()
        document = new_document(self.env.doc2path(self.env.docname).as_posix(), self.state.document.settings)
        document.reporter = self.state.document.reporter
        # Pad so that messages point at the directive's line.
        Parser().parse("\n" * (self.lineno - 1) + source, document)
        return list(document.children)


def command_parser(words: list[str]) -> argparse.ArgumentParser:
    """The parser of ``triochat WORDS...`` (``[]``: the top-level one)."""
    from triochat.cli import build_parser

    parser = build_parser()
    for word in words:
        sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not sub or word not in sub[0].choices:
            raise ValueError(f"triochat has no command {' '.join(words)!r}")
        parser = sub[0].choices[word]
    return parser


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    if action.choices is not None:
        return "{" + ",".join(str(choice) for choice in action.choices) + "}"
    # As argparse writes them: a positional by its name, an option's value in capitals.
    return action.dest.upper() if action.option_strings else action.dest


def option_signature(action: argparse.Action) -> str:
    """How an option is written: ``--host HOST``, ``--quick``, ``SCENARIO ...``."""
    if not action.option_strings:
        metavar = _metavar(action)
        return f"{metavar} ..." if action.nargs in ("*", "+") else metavar
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = _metavar(action)
    return ", ".join(f"{flag} {metavar}" for flag in action.option_strings)


def option_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text as ``--help`` shows it (``%(default)s`` and the like filled in)."""
    if not action.help:
        return ""
    values: dict[str, Any] = dict(vars(action), prog=parser.prog)
    for name, value in list(values.items()):
        if hasattr(value, "__name__"):
            values[name] = value.__name__
    if values.get("choices") is not None:
        values["choices"] = ", ".join(str(choice) for choice in values["choices"])
    return str(action.help) % values


USAGE_WIDTH = 88
"""Columns of the usage lines, whatever the terminal that builds the docs."""


@contextmanager
def _columns(width: int) -> Iterator[None]:
    # argparse wraps to the terminal's width, read from COLUMNS when it is set.
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


class CliDirective(_RstDirective):
    """``triochat-cli [COMMAND...]``: usage, description and every option of a command."""

    optional_arguments = 1
    final_argument_whitespace = True
    has_content = False

    def rst(self) -> str:
        words = self.arguments[0].split() if self.arguments else []
        parser = command_parser(words)
        program = " ".join(["triochat", *words])
        with _columns(USAGE_WIDTH):
            usage = parser.format_usage().strip().removeprefix("usage: ")
        out = [".. code-block:: text", "", indent(usage), ""]
        if parser.description:
            out += [escape(parser.description), ""]
        out += [f".. program:: {program}", ""]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    out += [f"``{program} {choice.dest}``", f"   {escape(choice.help or '')}", ""]
                continue
            if action.help == argparse.SUPPRESS:
                continue
            out += [f".. option:: {option_signature(action)}", ""]
            text = option_help(parser, action)
            if text:
                out += [indent(escape(text)), ""]
        if parser.epilog:
            out += ["::", "", indent(parser.epilog), ""]
        return "\n".join(out)


FLAGS_BUILDING = {
    "ssl_context": ("--certfile", "--keyfile"),
    "auth": ("--token", "--basic-auth", "--auth-allow-tcp"),
}
"""Settings ``triochat serve`` builds from flags of other names (a missing flag fails the build)."""


def serve_flags() -> dict[str, tuple[str, ...]]:
    """``triochat serve``'s flags for each setting they set (by the argument's destination)."""
    flags: dict[str, tuple[str, ...]] = dict(FLAGS_BUILDING)
    for action in command_parser(["serve"])._actions:
        if action.option_strings:
            flag = action.option_strings[-1]
            flags[action.dest] = (flag,)
            if action.dest.startswith("no_"):  # --no-tcp and the like turn a setting off
                flags.setdefault(action.dest.removeprefix("no_"), (flag,))
    return flags


def settings_rows() -> list[tuple[str, str, tuple[str, ...], str]]:
    """``(name, default, flag, docstring)`` for each :class:`~triochat.ServerConfig` field."""
    from triochat import ServerConfig

    docs = ModuleAnalyzer.for_module(ServerConfig.__module__).find_attr_docs()
    flags = serve_flags()
    rows = []
    for field in dataclasses.fields(ServerConfig):
        if field.default is not dataclasses.MISSING:
            default = repr(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = repr(field.default_factory())
        else:
            default = ""
        text = " ".join(line.strip() for line in docs.get(("ServerConfig", field.name), [])).strip()
        if not text:
            raise ValueError(f"ServerConfig.{field.name} has no docstring")
        rows.append((field.name, default, flags.get(field.name, ()), text))
    return rows


class SettingsDirective(_RstDirective):
    """``triochat-settings``: every ServerConfig field, its default, flag and meaning."""

    has_content = False

    def rst(self) -> str:
        out = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 20 15 20 45",
            "",
            "   * - Setting",
            "     - Default",
            "     - ``triochat serve``",
            "     - Meaning",
        ]
        for name, default, flag_list, text in settings_rows():
            out += [
                f"   * - :attr:`~triochat.ServerConfig.{name}`",
                f"     - ``{default}``",
                "     - " + ", ".join(f":option:`{flag} <triochat serve {flag}>`" for flag in flag_list),
                f"     - {text}",
            ]
        return "\n".join(out) + "\n"


class MetricRow(NamedTuple):
    """One metric family as a scrape shows it."""

    name: str
    """The family's name (a counter's without ``_total``)."""
    kind: str
    """``counter``, ``gauge``, ``histogram``, ``info``..."""
    samples: tuple[str, ...]
    """The sample names it is exposed as (``triochat_logins_total``)."""
    labels: tuple[tuple[str, tuple[str, ...]], ...]
    """Each label (``le`` and the info's own aside) and the values seen."""
    help: str


def scrape_metrics() -> str:
    """The text of ``GET /metrics`` from a fresh server on loopback (no client connected)."""
    import logging
    import urllib.request

    import trio

    from triochat import open_chat_server

    async def main() -> str:
        async with open_chat_server(host="127.0.0.1", port=0, metrics_port=0) as server:
            (url,) = [listener.url for listener in server.listeners if listener.transport == "http"]

            def get() -> str:
                with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=10) as answer:
                    return str(answer.read().decode("utf-8"))

            return await trio.to_thread.run_sync(get)

    # The server's own log lines (listening, stopped) are not the build's business.
    log = logging.getLogger("triochat")
    saved = log.level
    log.setLevel(logging.ERROR)
    try:
        return trio.run(main)
    finally:
        log.setLevel(saved)


def metric_rows(text: str | None = None) -> list[MetricRow]:
    """The metric families of a scrape (*text*, or a fresh one), in the order served."""
    from prometheus_client.parser import text_string_to_metric_families

    rows = []
    for family in text_string_to_metric_families(scrape_metrics() if text is None else text):
        samples: dict[str, None] = {}
        labels: dict[str, dict[str, None]] = {}
        for sample in family.samples:
            samples.setdefault(sample.name)
            for label, value in sample.labels.items():
                if label != "le":
                    # An info metric's labels carry its text (a version): name them only.
                    shown = () if family.name.endswith("_info") else (value,)
                    labels.setdefault(label, {}).update(dict.fromkeys(shown))
        rows.append(
            MetricRow(
                family.name,
                family.type,
                tuple(samples),
                tuple((label, tuple(sorted(values))) for label, values in labels.items()),
                family.documentation,
            )
        )
    return rows


class MetricsDirective(_RstDirective):
    """``triochat-metrics [PREFIX]``: every metric family whose name starts with PREFIX."""

    optional_arguments = 1
    has_content = False

    def rst(self) -> str:
        prefix = self.arguments[0] if self.arguments else ""
        out = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 35 12 53",
            "",
            "   * - Metric",
            "     - Type",
            "     - Meaning",
        ]
        for row in metric_rows():
            if not row.name.startswith(prefix):
                continue
            names = ", ".join(f"``{name}``" for name in row.samples)
            text = escape(row.help)
            for label, values in row.labels:
                text += (
                    f" Label ``{label}``"
                    + "".join((": " if i == 0 else ", ") + f"``{value}``" for i, value in enumerate(values))
                    + "."
                )
            out += [f"   * - {names}", f"     - {row.kind}", f"     - {text}"]
        return "\n".join(out) + "\n"


def reexport_source(fullname: str) -> tuple[str, str] | None:
    """Where a package's re-exported name comes from: ``(module, name)``, or ``None``.

    ``triochat.Middleware`` is ``from ._broadcaster import Middleware as
    Middleware`` in ``triochat/__init__.py``: ``("triochat._broadcaster", "Middleware")``.
    """
    package, _, name = fullname.rpartition(".")
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    path = getattr(module, "__file__", None)
    if not path or not hasattr(module, "__path__"):
        return None  # only packages re-export
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                    return source, alias.name
    return None


def data_docstrings(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Give re-exported constants and type aliases the docstring they have where they are defined.

    autodoc finds a constant's docstring (the string literal after it) only in
    the module being documented; for ``triochat.Middleware`` it would show the
    docstring of the value's type (``int``, a union) instead.
    """
    if what != "data":
        return
    source = reexport_source(name)
    if source is not None:
        docs = ModuleAnalyzer.for_module(source[0]).find_attr_docs().get(("", source[1]))
        if docs:
            lines[:] = list(docs)
            return
    type_doc = type(obj).__doc__
    if (
        type_doc
        and lines
        and [line for line in lines if line] == [line for line in prepare_docstring(type_doc) if line]
    ):
        lines[:] = []  # the type's docstring says nothing about this value


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives and the docstring fix."""
    app.add_directive("triochat-cli", CliDirective)
    app.add_directive("triochat-settings", SettingsDirective)
    app.add_directive("triochat-metrics", MetricsDirective)
    app.connect("autodoc-process-docstring", data_docstrings)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
