"""Errors that reach the user as one clear sentence (the CLI exits 2 on them)."""


class ConfigError(ValueError):
    """Bad input from the user: an unknown name, a malformed value, a missing file.

    The message is a complete sentence that names the allowed values or the fix; the
    command line prints it alone on stderr and exits with code 2, without a traceback.
    """


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the run stops with status ``diverged``."""
