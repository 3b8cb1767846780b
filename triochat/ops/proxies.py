"""Trusted reverse proxies: the client's address from ``X-Forwarded-For``.

A reverse proxy (nginx) connects to the server itself and says whom it
forwards for in ``X-Forwarded-For``: a comma-separated list that every proxy
on the way appends the address of its own peer to.  Anyone can send that
field, so it is believed only when the TCP peer is a configured trusted
proxy, and then only up to the right-most address that is not itself a
trusted proxy: the left part of the list is whatever the client wrote.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["UNIX", "TrustedProxies", "peer_address"]

UNIX = "unix"
"""The trusted-proxy entry that stands for the Unix-domain socket listener."""

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> _Address | None:
    """*text* as an IP address (IPv4-mapped IPv6 as IPv4), or ``None``."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def peer_address(peer: str) -> _Address | None:
    """The IP address in a peer as the server names it (``1.2.3.4:5``, ``[::1]:5``), or ``None``."""
    if peer.startswith("["):
        return _address(peer)
    host, colon, port = peer.rpartition(":")
    if colon and port.isdigit() and host.count(":") == 0:
        return _address(host)
    return _address(peer)


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed (see the module docstring)."""

    networks: tuple[_Network, ...] = ()
    unix: bool = False
    """The Unix-domain socket listener's peers are trusted."""

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        """Addresses and networks (``10.0.0.0/8``), or ``unix``; ``ValueError`` for anything else."""
        networks: list[_Network] = []
        unix = False
        for entry in entries:
            if not isinstance(entry, str):
                raise ValueError(f"a trusted proxy is an address or a network, not {entry!r}")
            if entry.strip().lower() == UNIX:
                unix = True
                continue
            try:
                network = ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted proxy {entry!r} is not an IP address, a network (10.0.0.0/8) or 'unix'"
                ) from None
            if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
                mapped = network.network_address.ipv4_mapped
                if mapped is not None:
                    network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
            networks.append(network)
        return cls(tuple(networks), unix)

    def __bool__(self) -> bool:
        return bool(self.networks) or self.unix

    def trusts(self, address: _Address | None) -> bool:
        """True if *address* is one of the trusted proxies."""
        if address is None:
            return False
        return any(address.version == net.version and address in net for net in self.networks)

    def client(self, peer: str, forwarded_for: Iterable[str], *, unix: bool = False) -> str:
        """The client's address for a connection from *peer* with these ``X-Forwarded-For`` values.

        *peer* itself unless it is a trusted proxy (or, with *unix*, the
        connection came on the Unix-domain socket and that is trusted).  Then
        the right-most address of the list that is not a trusted proxy; if
        every address is one, the left-most; if the address in question is
        not an IP address, the nearest trusted hop (never a made-up name).
        """
        if not (self.unix if unix else self.trusts(peer_address(peer))):
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        client = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                return client
            client = str(address)
            if not self.trusts(address):
                return client
        return client
