"""The one exception type a user should ever see from gankit.

Anything raised as a :class:`GankitError` is a problem with the user's input (a name, a value, a
file) and carries a one-line message that says what is wrong and what to do. The CLI prints it as a
single line and exits with status 2; everything else is a bug and keeps its traceback.
"""


class GankitError(Exception):
    """A user-facing error: one line naming the problem and what to do about it."""


class ConfigError(GankitError):
    """An impossible or unknown configuration value."""


class DataError(GankitError):
    """A dataset that is missing, corrupt or of the wrong shape."""


class CheckpointError(GankitError):
    """A run folder or checkpoint that cannot be used."""
