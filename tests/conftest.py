"""Shared fixtures; the plugin in triochat.pytest_plugin provides chat_server/chat_client."""
