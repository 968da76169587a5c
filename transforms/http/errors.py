"""The one exception type the HTTP client raises, carrying a dead-letter reason."""
from __future__ import annotations


class FetchError(Exception):
    """A fetch that failed for a reason worth a dead letter.

    ``error_type`` is the short, stable name of the fault (it becomes the
    dead letter's ``error_type`` and a counter name); ``transient`` says
    whether trying again later could succeed.
    """

    def __init__(self, error_type: str, message: str, *, http_status: int | None = None,
                 transient: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.http_status = http_status
        self.transient = transient
        self.retry_after = retry_after
        self.attempts = 1

    def __reduce__(self):
        return (_rebuild, (self.error_type, self.message, self.http_status, self.transient,
                           self.retry_after, self.attempts))


def _rebuild(error_type, message, http_status, transient, retry_after, attempts):
    error = FetchError(error_type, message, http_status=http_status, transient=transient,
                       retry_after=retry_after)
    error.attempts = attempts
    return error
