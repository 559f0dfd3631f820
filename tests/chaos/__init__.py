"""The chaos suite: a mixed workload on the real stack under SIGKILLs and server restarts, and a
checker of every history (docs/testing.md, docs/reliability.md)."""
