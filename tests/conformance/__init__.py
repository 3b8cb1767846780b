"""RFC 6455 / RFC 7692 conformance: the Autobahn|Testsuite run against triochat's WebSocket code."""
