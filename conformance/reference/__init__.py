"""Reference implementations: the embedded default systems under test."""
