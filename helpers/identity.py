"""Who is asking: the name a learner's requests carry, so a classroom server can tell them apart.

The instructor's dashboard groups requests by the ``X-Client-Name`` header. Every session the
notebooks open passes :func:`client_headers` so that the room sees "alice: peak 10" rather than
thirty identical addresses behind one Wi-Fi router. The name is not a secret and not an
identity check: anyone can send any name.
"""

from __future__ import annotations

import getpass
import os
import re

ENV_CLIENT_NAME = "COURSE_CLIENT_NAME"
HEADER = "X-Client-Name"
MAX_LENGTH = 64
_UNSAFE = re.compile(r"[^\x20-\x7e]")  # header values are printable ASCII


def client_name() -> str:
    """``COURSE_CLIENT_NAME`` if set, else this machine's user name, else ``"learner"``.

    Non-printable and non-ASCII characters become ``?`` and the name is cut to 64 characters,
    so the value is always a legal header value.
    """
    name = os.environ.get(ENV_CLIENT_NAME, "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no user name in a bare container
            name = ""
    name = _UNSAFE.sub("?", name).strip()[:MAX_LENGTH]
    return name or "learner"


def client_headers() -> dict[str, str]:
    """The headers every course session sends: ``{"X-Client-Name": client_name()}``."""
    return {HEADER: client_name()}
