"""Validated input models: distributions, workloads, architectures (tiers) and textbook networks."""
