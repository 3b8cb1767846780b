"""Programs of other libraries that talk to triochat in the compatibility tests."""
