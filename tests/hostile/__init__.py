"""Hostile inputs replayed against a running server on loopback."""
