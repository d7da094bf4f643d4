"""How the generated endpoints put arguments into a request's path (see ``scripts/pipeline/templates``).

Every generated endpoint quotes each path parameter with ``urllib.parse.quote(str(value), safe="")``;
its template rebinds ``quote`` to this module's, which returns a string of unreserved characters
(RFC 3986: letters, digits, ``-._~``, which ``quote`` never changes) as it is. A GUID, the parameter
of most calls, is one: ``urllib.parse.quote`` encodes and scans it (a percent of a fan-out's CPU).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Final

__all__ = ["quote"]

_UNRESERVED: Final = re.compile(r"[A-Za-z0-9_.~-]*")


def quote(string: str, safe: str = "/") -> str:
    """``urllib.parse.quote`` of a string (as the endpoints call it); one of unreserved characters is returned
    as it is."""
    if _UNRESERVED.fullmatch(string) is not None:
        return string
    return urllib.parse.quote(string, safe)
