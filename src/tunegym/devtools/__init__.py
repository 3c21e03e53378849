"""Developer tooling (the README's generated reference)."""
