"""REST and webhook handlers: thin (parse, call an action, serialize)."""
