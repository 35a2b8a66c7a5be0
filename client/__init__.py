"""The GraphQL client behind the `pagemill` commands, and what they print."""
