"""Channel adapters: verify and normalize inbound contacts, send replies. No routing."""
