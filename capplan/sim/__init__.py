"""The SimPy discrete-event engine: a compiled network spec in, replication statistics out (no I/O)."""
