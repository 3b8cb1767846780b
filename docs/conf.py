"""Sphinx configuration of the triochat documentation (``nox -s docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

from triochat import __version__  # noqa: E402

project = "triochat"
author = "the triochat authors"
copyright = "the triochat authors"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "triochat_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# Help texts and prose name flags such as --config: keep their dashes and quotes as typed.
smartquotes = False

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True}
autodoc_preserve_defaults = True

# Every reference must resolve (-n), except those into other projects' documentation:
# the build runs offline (CI, a fresh clone), so there are no inventories to link to.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(builtins|collections\.abc|typing|ssl|os|socket|argparse|dataclasses)\..*"),
    (r"py:.*", r"(trio|trio_websocket|pytest)(\..*)?"),
]

html_theme = "furo"
html_title = f"triochat {__version__}"
html_static_path: list[str] = []
