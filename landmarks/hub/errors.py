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


TOKEN_PLACES = "HF_TOKEN or `hf auth login`"


def refusal(e: Exception, subject: str, action: str, why: str = "", token_places: str = TOKEN_PLACES) -> str | None:
    """One line for a request the Hub refused, or None for any other error: 401, the token
    itself (a mistake that falling back to a cache would hide); 403, ``subject: this token may
    not ACTION (403): WHY``."""
    status = http_status(e)
    if status == 401:
        return f"the Hub refused the token (401): check {token_places}"
    if status == 403:
        return f"{subject}: this token may not {action} (403)" + (f": {why}" if why else "")
    return None
