"""The one exception type library code raises for bad input or impossible requests.

The CLI maps it (and pydantic's ValidationError) to a one-line message and exit code 2.
"""


class CapplanError(Exception):
    """A user-facing error: the message names the field or file at fault."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)
