"""The sans-I/O protocol package and the hub must not import trio."""

import subprocess
import sys
from pathlib import Path

import triochat

PACKAGE_DIR = Path(triochat.__file__).parent

CHECK = """
import pkgutil, sys, types
package = types.ModuleType("triochat")
package.__path__ = [{package_dir!r}]
sys.modules["triochat"] = package
import importlib
import triochat.protocol
for info in pkgutil.iter_modules(triochat.protocol.__path__):
    importlib.import_module("triochat.protocol." + info.name)
importlib.import_module("triochat._hub")
loaded = sorted(m for m in sys.modules if m == "trio" or m.startswith(("trio.", "trio_")))
print(",".join(loaded))
"""


def test_protocol_and_hub_import_no_trio() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(package_dir=str(PACKAGE_DIR))],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
