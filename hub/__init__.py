"""crmhub core: settings, app factory, domain models, actions, persistence and the event bus."""
