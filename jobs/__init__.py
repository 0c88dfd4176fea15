"""RQ entry points: one job per file, each a one-line bridge to an operation."""
