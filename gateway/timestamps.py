"""Times on the wire: RFC 3339 in UTC with milliseconds, as the old service sent them."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime | None) -> str:
    """'2025-09-01T12:34:56.789Z', or '' for no time."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
