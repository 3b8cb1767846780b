"""triochat's benchmark harness (load generators and scenarios)."""
