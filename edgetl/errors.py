"""One exception type for every problem a user can fix; the CLI prints it as one line."""


class EdgetlError(Exception):
    """A user-facing failure: bad input, missing file, unusable model. Never a bug."""

    exit_code = 2
