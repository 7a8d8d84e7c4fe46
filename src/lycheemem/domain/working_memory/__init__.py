"""Working memory: the token-budgeted session log with rolling compression."""
