"""A requests session for the OTLP/HTTP exporter that makes a failed request final.

The exporter (opentelemetry-exporter-otlp-proto-http 1.4x) retries a connection error once at
once (a stale pooled connection), then again and again with exponential backoff (about 1 s, 2 s,
...) until its timeout, and so does it for HTTP 429, 502, 503 and 504. This session lets that
first, immediate retry through, but turns a second connection failure in a row, and a retryable
status, into :class:`NotRetried`, which the exporter does not retry: an export to a down or
misbehaving collector costs at most two connection attempts and no backoff wait.
"""

from __future__ import annotations

from typing import Any

import requests

__all__ = ["NotRetried", "SingleAttemptSession"]

#: The statuses the exporter would retry with backoff.
_RETRIED_STATUSES = frozenset({429, 502, 503, 504})


class NotRetried(requests.RequestException):
    """A failure the exporter must not retry (not a ``requests.ConnectionError``)."""


class SingleAttemptSession(requests.Session):
    """See the module docstring. Used by one exporter, whose exports never overlap."""

    def __init__(self) -> None:
        super().__init__()
        self._failed_last = False

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send ``request``; see the module docstring for which failures become final."""
        try:
            response = super().send(request, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as error:
            again = self._failed_last
            self._failed_last = True
            if again:
                raise NotRetried(f"{type(error).__name__}: {error}") from error
            raise
        self._failed_last = False
        if response.status_code in _RETRIED_STATUSES:
            response.close()
            raise NotRetried(f"HTTP {response.status_code} {response.reason}")
        return response
