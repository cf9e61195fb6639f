"""Core: settings-driven infrastructure with no business nouns."""
