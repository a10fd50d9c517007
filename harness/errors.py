"""User-facing errors: one line, naming the file and field, exit status 2."""


class QfuzzError(Exception):
    """Bad input or usage.  The CLI prints str(err) on one line and exits 2."""


class WorkloadError(QfuzzError):
    """A workload field is missing, of the wrong type or out of range."""


class ReproducerError(QfuzzError):
    """A reproducer or crash file cannot be used."""
