"""The documentation site builds with no warning, and its generated pages cover the code.

This is the check ``nox -s docs`` makes (``sphinx-build -W --keep-going -n``), run
by the test suite so CI makes it too: a broken reference, a docstring Sphinx cannot
read or a page left out of the table of contents fails here.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from triochat import ServerConfig
from triochat.cli import build_parser

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"


def require_sphinx() -> None:
    missing = [name for name in ("sphinx", "myst_parser", "furo") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.fail(
            f"cannot build the documentation: {', '.join(missing)} not installed; "
            "install the test extra (pip install -e '.[test]') or the docs extra ('.[docs]')",
            pytrace=False,
        )


def test_a_missing_sphinx_fails_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "sphinx" else real(name))
    with pytest.raises(pytest.fail.Exception, match=r"sphinx not installed.*pip install -e '\.\[test\]'"):
        require_sphinx()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module into a temporary directory."""
    require_sphinx()
    out = tmp_path_factory.mktemp("docs")
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",  # warnings are errors
        "--keep-going",  # ... and all of them are reported
        "-n",  # every cross-reference must resolve
        "-E",
        "-q",
        "-b",
        "html",
        "-d",
        str(out / "doctrees"),
        str(DOCS),
        str(out / "html"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"sphinx-build failed:\n{done.stderr}{done.stdout}"
    assert not done.stderr.strip(), f"sphinx-build warned:\n{done.stderr}"
    return out / "html"


def page(site: Path, name: str) -> str:
    return (site / f"{name}.html").read_text(encoding="utf-8")


def test_the_site_builds_with_no_warning(site: Path) -> None:
    assert (site / "index.html").is_file()
    for name in ("design", "protocol", "benchmarks", "conformance", "changelog"):
        assert (site / f"{name}.html").is_file(), name


def test_every_page_is_in_the_table_of_contents(site: Path) -> None:
    # Sphinx warns of a page no toctree names (an error here); check the sections too.
    index = page(site, "index")
    for section in ("tutorial/index", "howto/index", "reference/index", "topics/index"):
        assert f'href="{section}.html"' in index, section


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_the_cli_reference_has_every_option_of_every_command(site: Path) -> None:
    text = page(site, "reference/cli")
    for command, parser in subparsers(build_parser()).items():
        for action in parser._actions:
            if action.option_strings:  # one anchor per option, named for one of its flags
                anchors = [
                    f'id="cmdoption-triochat-{command}-{flag.lstrip("-")}"' for flag in action.option_strings
                ]
                assert any(anchor in text for anchor in anchors), (
                    f"triochat {command} {action.option_strings[-1]} is not in the CLI reference"
                )
            else:
                anchor = f'id="cmdoption-triochat-{command}-arg-{action.metavar or action.dest}"'
                assert anchor in text, f"triochat {command} {action.dest} is not in the CLI reference"


def test_the_limits_page_has_every_setting_with_its_default(site: Path) -> None:
    text = html.unescape(re.sub(r"<[^>]+>", "", page(site, "topics/limits")))
    for field in dataclasses.fields(ServerConfig):
        default = field.default
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        assert re.search(rf"{field.name}\s*{re.escape(repr(default))}", text), field.name


def test_the_reference_documents_every_public_name(site: Path) -> None:
    import triochat
    import triochat.auth
    import triochat.protocol
    import triochat.testing

    ids = set(re.findall(r'id="([^"]+)"', "".join(page(site, f"reference/{name}") for name in REFERENCE)))
    missing = [
        f"{module.__name__}.{name}"
        for module in (triochat, triochat.auth, triochat.protocol, triochat.testing)
        for name in module.__all__
        if f"{module.__name__}.{name}" not in ids
    ]
    assert not missing, f"not in the reference: {', '.join(missing)}"
    for fixture in ("chat_server", "chat_client"):
        assert f"triochat.pytest_plugin.{fixture}" in ids


REFERENCE = ("server", "client", "events", "auth", "testing", "protocol-package", "cli")


def test_the_reference_describes_every_store_spec(site: Path) -> None:
    from triochat._store import STORE_KINDS

    text = page(site, "reference/server")
    section = text[text.index('id="store-specs"') :]
    terms = {
        html.unescape(re.sub(r"<[^>]+>", "", term)).strip()
        for term in re.findall(r"<dt>(.*?)</dt>", section, re.S)
    }
    for kind in STORE_KINDS:
        assert kind in terms, f"the store spec {kind} is not described under Store specs"


def test_the_readme_links_to_the_entry_points_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = set(re.findall(r"\]\((docs/[^)#]+)\)", readme))
    for entry in ("tutorial", "howto", "reference", "topics"):
        assert f"docs/{entry}/index.md" in links, entry
    for link in links:
        assert (ROOT / link).is_file(), f"the README links to {link}, which does not exist"
    assert "nox -s docs" in readme


def test_the_readme_sends_to_the_how_to_index_that_lists_scale_out(site: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Documentation") :]
    section = " ".join(section[: section.find("\n## ", 1)].split())
    assert "[how-to guides](docs/howto/index.md) (persistence, scaling out with Redis" in section
    index = (site / "howto/index.html").read_text(encoding="utf-8")
    assert 'href="scale-out.html"' in index
    assert "Scale out with Redis" in (site / "howto/scale-out.html").read_text(encoding="utf-8")


def test_constants_and_aliases_show_their_own_docstrings(site: Path) -> None:
    text = "".join(page(site, f"reference/{name}") for name in REFERENCE)
    for type_doc in (
        "Represent a PEP 604 union type",
        "str(object=",
        "int([x])",
        "Built-in immutable sequence",
    ):
        assert type_doc not in text, f"the reference shows a type's docstring: {type_doc}"
    # Re-exported ones get the docstring they have where they are defined.
    assert "pass the message on (the same or a replacement)" in words(page(site, "reference/server"))
    assert "The longest user or room name" in words(page(site, "reference/protocol-package"))


def words(html_text: str) -> str:
    """The text of a page, tags dropped and white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", html_text)).split())


async def test_the_monitor_page_lists_every_metric_a_server_serves(site: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tests.test_metrics import http_get
    from triochat.testing import open_test_server

    async with open_test_server(tcp_port=0, store="memory") as server:
        assert server.ws_port is not None
        status, _, body = await http_get(server.ws_port, "/metrics")
    assert status == 200
    text = words(page(site, "howto/monitor"))
    families = list(text_string_to_metric_families(body.decode("utf-8")))
    assert len(families) > 20
    for family in families:
        for sample in {sample.name for sample in family.samples}:
            assert sample in text, f"{sample} is not on the monitor page"
        for label in {label for sample in family.samples for label in sample.labels} - {"le", "version"}:
            for value in {sample.labels[label] for sample in family.samples}:
                assert f"Label {label}" in text and value in text, (family.name, label, value)


async def test_the_browser_tutorial_names_what_the_page_shows(site: Path) -> None:
    from tests.test_metrics import http_get
    from triochat._config import DEFAULT_WS_PORT
    from triochat.testing import open_test_server

    tutorial = (DOCS / "tutorial/browser.md").read_text(encoding="utf-8")
    assert f"<http://localhost:{DEFAULT_WS_PORT}/>" in tutorial
    async with open_test_server() as server:
        assert server.ws_port is not None
        status, fields, body = await http_get(server.ws_port, "/")
    assert (status, fields["content-type"].split(";")[0]) == (200, "text/html")
    served = html.unescape(body.decode("utf-8"))
    buttons = re.findall(r"(?<!\*)\*([A-Z][a-z ]+)\*(?!\*)", tutorial)  # *Leave room*: a button the page has
    assert buttons == ["Leave room", "Load older messages"]
    for label in buttons:
        assert f">{label}<" in served, f"the page has no button {label!r}"
    # The screenshot is on the built page.
    assert 'src="../_images/screenshot.png"' in page(site, "tutorial/browser")


async def test_every_metric_the_pages_name_is_served() -> None:
    # The PromQL on the monitor page and the table in docs/deploy/README.md are written
    # by hand: each name in them must be one a server serves.
    from prometheus_client.parser import text_string_to_metric_families

    from tests.test_metrics import http_get
    from triochat.testing import open_test_server

    async with open_test_server() as server:
        assert server.ws_port is not None
        _, _, body = await http_get(server.ws_port, "/metrics")
    served = set()
    for family in text_string_to_metric_families(body.decode("utf-8")):
        served.add(family.name)
        served.update(sample.name for sample in family.samples)
    # A node with --redis serves its link's families too: read them from their source.
    from types import SimpleNamespace

    from triochat._cluster.metrics import LinkStats, metric_source

    link = SimpleNamespace(stats=LinkStats(), reconnects=0, available=True)
    for family in metric_source(link)():  # type: ignore[arg-type]
        served.add(family.name)
        served.update(sample.name for sample in family.samples)
    for name in ("howto/monitor.md", "deploy/README.md"):
        named = set(re.findall(r"\btriochat_[a-z_]+", (DOCS / name).read_text(encoding="utf-8")))
        assert len(named) > 5, name
        assert not named - served, f"{name} names metrics no server serves: {sorted(named - served)}"
