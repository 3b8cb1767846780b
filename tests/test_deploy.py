"""The deployment recipes in docs/deploy/ and docs/examples/, checked as far as this machine can.

The example configuration loads with ``triochat serve --config`` and names every
setting; the systemd unit passes ``systemd-analyze verify``; the Dockerfile runs
the README's commands; the nginx configuration upgrades WebSocket requests,
outwaits the keepalive ping and passes ``X-Forwarded-For``.  (No container
engine here: the image itself is not built.)
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import trio

from triochat import ServerConfig
from triochat.cli import build_parser, serve

from .test_metrics import http_get
from .test_readme import readme_blocks

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "triochat.toml"
DEPLOY = ROOT / "docs" / "deploy"
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"


def example() -> dict[str, Any]:
    with EXAMPLE.open("rb") as f:
        data = tomllib.load(f)
    section: dict[str, Any] = data["serve"]
    return section


def _setting(key: str) -> str:
    name = key.replace("-", "_")
    return serve._TOML_ALIASES.get(name, name)


def commented_settings() -> dict[str, Any]:
    """The settings left at their default: ``# key = value`` lines, each parsed as TOML."""
    found: dict[str, Any] = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"# ([a-z-]+) = (.+)", line)
        if match:
            found.update(tomllib.loads(f"{match[1]} = {match[2]}"))
    return found


def test_the_example_configuration_loads_with_serve_config() -> None:
    args = build_parser().parse_args(["serve", "--config", str(EXAMPLE)])
    server = serve.build_server(serve.settings_from(args))
    config = server.config
    active = example()
    assert config.host == active["host"] == "127.0.0.1"
    assert (config.port, config.tcp_port, config.metrics_port) == (8723, 8724, 9723)
    assert config.store == "sqlite:/var/lib/triochat/chat.db"
    assert config.trusted_proxies == ("127.0.0.1", "::1")
    assert config.grace_period == active["grace-period"]


def test_the_example_configuration_names_every_setting_and_only_settings() -> None:
    active = {_setting(key) for key in example()}
    commented = {_setting(key) for key in commented_settings()}
    assert active <= serve.SETTING_NAMES, active - serve.SETTING_NAMES
    assert commented <= serve.SETTING_NAMES, commented - serve.SETTING_NAMES
    assert not active & commented
    missing = serve.SETTING_NAMES - active - commented
    assert not missing, f"docs/examples/triochat.toml does not mention {sorted(missing)}"


def test_every_setting_left_commented_out_is_a_valid_value(tmp_path: Path) -> None:
    files = {"certfile", "keyfile", "basic_auth"}  # name files this machine does not have
    conflicting = {"no_tcp", "no_websocket"}  # each alone is fine; here tcp-port and port are set
    # Operators alone are refused on purpose: they need a way to prove who they are.
    companions = {"operators": "local-operators = true\n"}
    for key, value in commented_settings().items():
        if _setting(key) in files | conflicting:
            continue
        path = tmp_path / f"{key}.toml"
        path.write_text(f"[serve]\n{key} = {json.dumps(value)}\n{companions.get(_setting(key), '')}")
        args = build_parser().parse_args(["serve", "--config", str(path)])
        serve.build_server(serve.settings_from(args))  # raises UsageError for a bad value


def test_every_flag_of_serve_is_a_key_of_the_configuration_file() -> None:
    parser = argparse.ArgumentParser(prog="triochat serve")
    serve.add_arguments(parser)
    flags = set(re.findall(r"--([a-z][a-z-]+)", parser.format_help())) - {"help", "config"}
    assert {"tcp-port", "unix", "trusted-proxy", "metrics-port", "no-metrics"} <= flags
    for flag in flags:
        assert _setting(flag) in serve.SETTING_NAMES, f"--{flag} has no TOML key"


async def test_the_example_configuration_serves_with_ports_and_store_overridden() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--config",
            str(EXAMPLE),
            *("--port", "0", "--tcp-port", "0", "--metrics-port", "0", "--store", "memory"),
        ]
    )
    server = serve.build_server(serve.settings_from(args))
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(server.serve)
        assert {listener.transport for listener in listeners} == {"tcp", "ws", "http"}
        (http,) = [listener for listener in listeners if listener.transport == "http"]
        assert (await http_get(http.port, "/readyz"))[:3:2] == (200, b"ready\n")
        await server.stop()


# -- systemd ---------------------------------------------------------------------------------


def unit() -> dict[str, list[str]]:
    """The unit's ``Key=value`` lines: the values of each key, in order."""
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / "triochat.service").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.skipif(not Path(SYSTEMD_ANALYZE).exists(), reason="systemd-analyze is not installed")
def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify wants the ExecStart binary to exist: point it at this venv's triochat.
    binary = Path(sys.executable).parent / "triochat"
    assert binary.exists()
    text = (DEPLOY / "triochat.service").read_text(encoding="utf-8")
    assert "ExecStart=/opt/triochat/.venv/bin/triochat " in text
    copy = tmp_path / "triochat.service"
    copy.write_text(text.replace("ExecStart=/opt/triochat/.venv/bin/triochat ", f"ExecStart={binary} "))
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    # verify exits 0 on unknown keys and bad values, with a warning: none is allowed.
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


@pytest.mark.skipif(not Path(SYSTEMD_ANALYZE).exists(), reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    binary = Path(sys.executable).parent / "triochat"
    copy = tmp_path / "triochat.service"
    copy.write_text(f"[Service]\nExecStart={binary} serve\nProtectSystem=strictly\n")
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Failed to parse protect system value" in result.stderr


def test_the_systemd_unit_is_hardened_and_outwaits_the_grace_period() -> None:
    values = unit()
    for key, value in {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "StateDirectory": "triochat",
        "ConfigurationDirectory": "triochat",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "KillSignal": "SIGTERM",
    }.items():
        assert values[key] == [value], key
    # The store of the example configuration is in the state directory.
    assert example()["store"].startswith("sqlite:/var/lib/triochat/")
    # systemd must not kill a graceful stop: the stop timeout is above the grace period
    # plus the longest a handler may hold the broadcaster.
    (timeout,) = values["TimeoutStopSec"]
    assert float(timeout) > example()["grace-period"] + ServerConfig().handler_timeout
    (exec_start,) = values["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/triochat/.venv/bin/triochat"
    args = build_parser().parse_args(argv[1:])
    assert args.config == "/etc/triochat/triochat.toml"


# -- Docker ----------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined: ``(INSTRUCTION, arguments)``."""
    instructions = []
    pending = ""
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = " ".join((pending + line).split())
        pending = ""
        word, _, rest = full.partition(" ")
        instructions.append((word, rest))
    return instructions


def readme_commands() -> list[str]:
    """Every shell command in the README's ``sh`` blocks (``&&`` chains split), as written."""
    commands = []
    for block in readme_blocks("sh"):
        for line in block.splitlines():
            line = line.split(" # ", 1)[0].strip()
            commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def test_the_dockerfile_runs_the_readme_install_and_serve_commands() -> None:
    instructions = dockerfile()
    # A slim Python image of the oldest version the project supports.
    with (ROOT / "pyproject.toml").open("rb") as f:
        requires = tomllib.load(f)["project"]["requires-python"]
    assert instructions[0] == ("FROM", f"python:{requires.removeprefix('>=')}-slim")
    readme = readme_commands()
    first = readme_blocks("sh")[0].strip()
    install, _, serve_command = first.rpartition(" && ")
    assert serve_command == ".venv/bin/triochat serve"
    # Each RUN that touches the virtualenv is the README's install command, exactly.
    runs = [rest for word, rest in instructions if word == "RUN" and ".venv" in rest]
    assert runs == [install]
    # CMD is one of the README's commands: the serve command, with the container's flags.
    (cmd,) = [rest for word, rest in instructions if word == "CMD"]
    argv = json.loads(cmd)
    assert shlex.join(argv) in readme
    assert shlex.join(argv).startswith(serve_command + " ")
    args = build_parser().parse_args(argv[1:])
    # The configuration it names is the example one, copied in.
    assert ("COPY", f"docs/examples/triochat.toml {args.config}") in instructions
    # Ports: what the example configuration listens on; the health check asks /readyz.
    (exposed,) = [rest for word, rest in instructions if word == "EXPOSE"]
    config = example()
    assert exposed.split() == [str(config[key]) for key in ("port", "tcp-port", "metrics-port")]
    (healthcheck,) = [rest for word, rest in instructions if word == "HEALTHCHECK"]
    assert f"http://127.0.0.1:{config['metrics-port']}/readyz" in healthcheck
    assert ("VOLUME", "/var/lib/triochat") in instructions


def test_what_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copies = [rest.split()[:-1] for word, rest in dockerfile() if word == "COPY"]
    assert copies
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") in allowed, f"{source} is left out of the build context"


# -- nginx -----------------------------------------------------------------------------------


def test_the_nginx_configuration_upgrades_outwaits_the_ping_and_forwards_the_client() -> None:
    text = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    directives = [line.rstrip(";").split() for line in lines if line.endswith(";")]

    def values(name: str) -> list[list[str]]:
        return [words[1:] for words in directives if words and words[0] == name]

    assert ["Upgrade", "$http_upgrade"] in values("proxy_set_header")
    assert ["Connection", "$connection_upgrade"] in values("proxy_set_header")
    assert ["X-Forwarded-For", "$proxy_add_x_forwarded_for"] in values("proxy_set_header")
    assert values("proxy_http_version") == [["1.1"]]
    defaults = ServerConfig()
    assert defaults.ping_interval is not None
    (timeout,) = values("proxy_read_timeout")
    assert timeout[0].endswith("s")
    assert float(timeout[0][:-1]) > defaults.ping_interval + defaults.ping_timeout
    assert ["443", "ssl"] in values("listen")
    assert values("ssl_certificate") and values("ssl_certificate_key")
    # The upstream is where the example configuration listens, and nginx is its trusted proxy.
    config = example()
    assert ["127.0.0.1:8723"] in values("server")
    assert config["port"] == 8723 and "127.0.0.1" in config["trusted-proxy"]
