"""The per-compile hot path: hand one compile to the daemon, or run the compiler here."""
