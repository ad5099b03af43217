"""One exception type for every problem a user can fix; the CLI prints it as one line."""


class EdgetlError(Exception):
    """A user-facing failure: bad input, missing file, unusable model. Never a bug."""

    exit_code = 2


class CheckFailed(EdgetlError):
    """A check the user asked for found problems (e.g. ``export --strict``): exit status 1, not 2."""

    exit_code = 1
