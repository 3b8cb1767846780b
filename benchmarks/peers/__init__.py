"""Peer servers the harness measures triochat against, each run in its own process.

Each prints ``READY PORT`` on stdout once it accepts connections.
"""
