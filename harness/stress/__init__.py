"""Free-running stress modes: model.py (the C model on free-running threads)
and binary.py (the real HAProxy under loopback load)."""
