"""Domain actions: the only code that changes state, and the only code that emits events."""
