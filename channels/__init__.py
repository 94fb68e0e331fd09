"""Channel adapters: verify and normalize inbound contacts, send outbound messages. No routing here."""
