"""The documentation's own Sphinx extension (docs/_ext/triochat_docs.py): options and settings as written."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.test_docs import require_sphinx
from triochat import ServerConfig

EXTENSION = Path(__file__).parent.parent / "docs" / "_ext" / "triochat_docs.py"


@pytest.fixture(scope="module")
def ext() -> ModuleType:
    require_sphinx()
    spec = importlib.util.spec_from_file_location("triochat_docs", EXTENSION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_options_are_written_as_argparse_writes_them(ext: ModuleType) -> None:
    parser = argparse.ArgumentParser(prog="demo")
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO")
    parser.add_argument("url")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--token", action="append", dest="tokens", metavar="TOKEN=NAME")
    parser.add_argument("--log-level", choices=["debug", "info"])
    parser.add_argument("-p", "--port", type=int)
    signatures = [ext.option_signature(action) for action in parser._actions]
    assert signatures == [
        "-h, --help",
        "SCENARIO ...",
        "url",
        "--quick",
        "--token TOKEN=NAME",
        "--log-level {debug,info}",
        "-p PORT, --port PORT",
    ]


def test_help_texts_are_filled_in_as_help_shows_them(ext: ModuleType) -> None:
    parser = argparse.ArgumentParser(prog="demo")
    action = parser.add_argument(
        "--repeats", type=int, default=2, help="runs per point (default: %(default)s)"
    )
    assert ext.option_help(parser, action) == "runs per point (default: 2)"
    choice = parser.add_argument("--fmt", choices=["a", "b"], help="one of %(choices)s, for %(prog)s")
    assert ext.option_help(parser, choice) == "one of a, b, for demo"


def test_markup_in_help_texts_stays_text(ext: ModuleType) -> None:
    text = "keys like *room* = [`a`, b_] | <none> \\ end"
    escaped = ext.escape(text)
    docutils_core = importlib.import_module("docutils.core")  # (docutils has no type stubs)
    assert docutils_core.publish_doctree(escaped).astext() == text


def test_every_setting_has_a_row_with_its_flag(ext: ModuleType) -> None:
    rows = {name: (default, flags, text) for name, default, flags, text in ext.settings_rows()}
    assert list(rows) == [field for field in ServerConfig.__dataclass_fields__]
    assert rows["outbox_limit"][:2] == ("262144", ("--outbox-limit",))
    assert rows["rooms"][1] == ("--room",)  # an argument whose destination is the setting
    assert rows["compression"][1] == ("--no-compression",)  # a flag that turns it off
    assert rows["ssl_context"][1] == ("--certfile", "--keyfile")  # built from other flags
    assert all(text for _, _, text in rows.values())


def test_an_unknown_command_is_an_error(ext: ModuleType) -> None:
    assert ext.command_parser(["serve"]).prog == "triochat serve"
    with pytest.raises(ValueError, match="no command 'serve nope'"):
        ext.command_parser(["serve", "nope"])


def test_a_package_reexport_is_found_where_it_is_defined(ext: ModuleType) -> None:
    assert ext.reexport_source("triochat.Middleware") == ("triochat._broadcaster", "Middleware")
    assert ext.reexport_source("triochat.protocol.MAX_NAME_LENGTH") == (
        "triochat.protocol.names",
        "MAX_NAME_LENGTH",
    )
    assert ext.reexport_source("triochat.auth.AuthHook") is None  # defined there, not re-exported


SCRAPE = """\
# HELP demo_build_info The version.
# TYPE demo_build_info gauge
demo_build_info{version="9.9"} 1.0
# HELP demo_refused_total Refusals, by reason.
# TYPE demo_refused_total counter
demo_refused_total{reason="b"} 0.0
demo_refused_total{reason="a"} 2.0
# HELP demo_latency_seconds How long *it* took.
# TYPE demo_latency_seconds histogram
demo_latency_seconds_bucket{le="0.1"} 1.0
demo_latency_seconds_bucket{le="+Inf"} 1.0
demo_latency_seconds_count 1.0
demo_latency_seconds_sum 0.05
"""


def test_metric_rows_read_a_scrape_as_served(ext: ModuleType) -> None:
    rows = ext.metric_rows(SCRAPE)
    assert [(row.name, row.kind, row.samples, row.labels) for row in rows] == [
        ("demo_build_info", "gauge", ("demo_build_info",), (("version", ()),)),  # not the version itself
        ("demo_refused", "counter", ("demo_refused_total",), (("reason", ("a", "b")),)),
        (
            "demo_latency_seconds",
            "histogram",
            ("demo_latency_seconds_bucket", "demo_latency_seconds_count", "demo_latency_seconds_sum"),
            (),  # le is the histogram's own
        ),
    ]
    assert rows[2].help == "How long *it* took."


def test_the_metrics_come_from_a_real_server(ext: ModuleType) -> None:
    rows = ext.metric_rows()  # a scrape of a server started on loopback
    names = {row.name for row in rows}
    assert {"triochat_connections", "triochat_logins", "triochat_message_latency_seconds"} <= names
    (connections,) = [row for row in rows if row.name == "triochat_connections"]
    assert connections.labels == (("transport", ("tcp", "ws")),)


def test_every_setting_but_the_banner_has_a_flag_on_the_limits_page(ext: ModuleType) -> None:
    # Settings added later (operations, moderation, the page) reach the generated table
    # with their flags; only the banner is for programs alone.
    rows = {name: flags for name, _, flags, _ in ext.settings_rows()}
    assert [name for name, flags in rows.items() if not flags] == ["banner"]
    assert rows["trusted_proxies"] == ("--trusted-proxy",)
    assert rows["allowed_origins"] == ("--allow-origin",)
    assert rows["operators"] == ("--operator",)
    assert rows["metrics"] == ("--no-metrics",)
    assert rows["web"] == ("--no-web",)
