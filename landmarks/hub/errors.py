"""What the Hub modules share: the repo-id pattern and how a Hub error is told in one line.
Plain Python, no torch: ``deploy`` imports it without loading a model."""
from __future__ import annotations

import re

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def short_error(e: Exception) -> str:
    """``Type: first line`` of an exception, cut to 160 characters."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__


def http_status(e: Exception) -> int | None:
    """The HTTP status of a failed Hub request, whatever the client's HTTP stack."""
    return getattr(getattr(e, "response", None), "status_code", None)
