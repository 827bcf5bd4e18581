"""Web tasks: models, checkers and the seeded templates over the built-in sites."""
