"""`flask` CLI commands for operators."""
