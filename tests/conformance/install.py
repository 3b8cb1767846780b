"""Install the Autobahn|Testsuite (Python 2 code) into a virtualenv of its own.

``python -m tests.conformance.install`` finds Python 2.7 (pyenv's 2.7.18 on the project's
machines), bootstraps ``virtualenv`` into ``.autobahn/tools`` with Python 2's own pip,
creates ``.autobahn/venv`` and installs the pinned ``requirements-py2.txt`` there.
A stamp file records what was installed: a second call with the same pins and interpreter
returns at once. Everything lives under ``.autobahn/`` at the repository root (gitignored),
or under ``$TRIOCHAT_AUTOBAHN_HOME``.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("requirements-py2.txt")
#: virtualenv's last line that still runs on (and creates environments for) Python 2.7.
VIRTUALENV_PIN = "virtualenv==20.15.1"
PYENV_VERSION = "2.7.18"
#: Each pip step gets this long; a first install takes about a minute on a 2-core machine.
STEP_TIMEOUT = 900.0


class InstallError(RuntimeError):
    """Python 2.7 is missing, or the suite could not be installed; the message says why."""


def autobahn_home() -> Path:
    """Where the Python 2 tools live: ``$TRIOCHAT_AUTOBAHN_HOME`` or ``.autobahn/`` in the repo."""
    override = os.environ.get("TRIOCHAT_AUTOBAHN_HOME")
    return Path(override) if override else REPO_ROOT / ".autobahn"


def wstest_path(home: Path) -> Path:
    """The ``wstest`` command of an installed suite."""
    return home / "venv" / "bin" / "wstest"


def py2_env() -> dict[str, str]:
    """The environment for Python 2 processes: no Python 3 paths, no user site-packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_PYTHON_VERSION_WARNING"] = "1"
    return env


def _candidates() -> Iterator[Path]:
    explicit = os.environ.get("TRIOCHAT_PYTHON2")
    if explicit:
        yield Path(explicit)
        return
    roots: list[Path] = []
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        try:
            out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            out = None
        if out is not None and out.returncode == 0 and out.stdout.strip():
            roots.append(Path(out.stdout.strip()))
    if os.environ.get("PYENV_ROOT"):
        roots.append(Path(os.environ["PYENV_ROOT"]))
    roots += [Path.home() / ".pyenv", Path("/root/.pyenv")]
    for root in roots:
        yield root / "versions" / PYENV_VERSION / "bin" / "python"
    for name in ("python2.7", "python2"):
        found = shutil.which(name)
        if found is not None:
            yield Path(found)


def _is_python27(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        out = subprocess.run(
            [str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            env=py2_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "2.7"


def find_python2() -> Path:
    """The Python 2.7 interpreter to install the suite with, or :class:`InstallError`."""
    tried = []
    for candidate in _candidates():
        if _is_python27(candidate):
            return candidate
        tried.append(str(candidate))
    raise InstallError(
        "Python 2.7 is needed to run the Autobahn|Testsuite and none was found "
        f"(tried: {', '.join(tried) or 'nothing'}). Install it with `pyenv install {PYENV_VERSION}` "
        "or point TRIOCHAT_PYTHON2 at a python2.7 interpreter."
    )


def _stamp_text(python2: Path) -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    return f"python2={python2}\nvirtualenv={VIRTUALENV_PIN}\nrequirements-sha256={digest}\n"


def _run_step(what: str, cmd: Sequence[str], log: Path, env: dict[str, str]) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        try:
            proc = subprocess.run(
                list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env, timeout=STEP_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise InstallError(f"{what}: gave up after {STEP_TIMEOUT:g} s; see {log}") from exc
        except OSError as exc:
            raise InstallError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join(
            line for line in log.read_text(errors="replace").splitlines()[-25:] if "is ignored" not in line
        )
        raise InstallError(f"{what} failed (exit status {proc.returncode}); log {log}:\n{tail}")


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_installed(home: Path | None = None, *, quiet: bool = False) -> Path:
    """Install the suite unless the same pins are already installed; return ``wstest``'s path.

    Raises :class:`InstallError` with a readable message when Python 2.7 is missing or a
    step fails.
    """
    home = autobahn_home() if home is None else home
    python2 = find_python2()
    stamp = home / "installed.txt"
    wstest = wstest_path(home)
    wanted = _stamp_text(python2)
    if wstest.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        return wstest
    with _locked(home):
        if wstest.is_file() and stamp.is_file() and stamp.read_text() == wanted:
            return wstest
        started = time.monotonic()
        if not quiet:
            print(f"installing the Autobahn|Testsuite under {home} with {python2} ...", flush=True)
        stamp.unlink(missing_ok=True)
        for stale in ("tools", "venv"):
            shutil.rmtree(home / stale, ignore_errors=True)
        log = home / "install.log"
        log.write_text("")
        env = py2_env()
        tools = home / "tools"
        _run_step(
            "installing virtualenv for Python 2.7",
            [str(python2), "-m", "pip", "install", "--prefix", str(tools), VIRTUALENV_PIN],
            log,
            env,
        )
        env_tools = dict(env, PYTHONPATH=str(tools / "lib" / "python2.7" / "site-packages"))
        venv = home / "venv"
        _run_step(
            "creating the Python 2.7 virtualenv",
            [str(python2), "-m", "virtualenv", "--no-periodic-update", str(venv)],
            log,
            env_tools,
        )
        _run_step(
            "installing autobahntestsuite",
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-r", str(REQUIREMENTS)],
            log,
            env,
        )
        if not wstest.is_file():
            raise InstallError(f"the install finished but {wstest} is missing; see {log}")
        stamp.write_text(wanted)
        if not quiet:
            print(f"installed in {time.monotonic() - started:.0f} s: {wstest}", flush=True)
    return wstest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: install (or check) the suite; exit 1 with a message when it cannot be."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    try:
        wstest = ensure_installed()
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wstest: {wstest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
