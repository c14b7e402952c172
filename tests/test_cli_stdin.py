"""A managed server watches its stdin: whatever makes that impossible also stops it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


@pytest.mark.parametrize("workers", [
    1, pytest.param(2, marks=pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"),
                                                reason="--workers needs SO_REUSEPORT")),
])
def test_a_stdin_that_cannot_be_read_stops_a_managed_server(workers):
    """A non-blocking stdin with nothing in it (EAGAIN), like a terminal that hung up (EIO):
    the server (one process, or the supervisor of several) can no longer learn that its
    parent has gone, so it stops at once, cleanly, rather than live on as an orphan."""
    r, w = os.pipe()
    os.set_blocking(r, False)  # the child inherits the flag: its read fails with EAGAIN
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "helpers.server", "--port", "0", "--managed",
             "--workers", str(workers)],
            stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
        try:
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    finally:
        os.close(r)
        os.close(w)  # held open until now: the child never sees end of file
    assert (proc.returncode, err.decode()) == (0, "")
    assert out.decode().strip().endswith("/api/v2")
