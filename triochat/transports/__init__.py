"""Transports: the byte streams and listeners the server runs on."""
