"""The addresses a classroom can reach this machine at, for the banner of ``make serve``.

Bound to ``0.0.0.0`` the server answers on every interface, but ``0.0.0.0`` is not an address
a student can type. The machine's own name resolves to its addresses on the room's network
(no packet is sent to find them); the loopback ones are left out.
"""

from __future__ import annotations

import ipaddress
import socket

WILDCARDS = {"0.0.0.0", "::", ""}


def room_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, as its own name resolves; maybe none."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return []
    found = {info[4][0] for info in infos}
    return sorted(a for a in found if not ipaddress.ip_address(a).is_loopback)


def room_banner(host: str, port: int) -> str | None:
    """What to tell the students when the server listens on every interface, else None."""
    if host not in WILDCARDS:
        return None
    addresses = room_addresses()
    if not addresses:
        return ("Students: POKEAPI_BASE_URL=http://<this machine's address>:"
                f"{port}/api/v2  (find it with `ip -4 addr` or `ipconfig`)")
    return "Students: " + "  or  ".join(
        f"POKEAPI_BASE_URL=http://{a}:{port}/api/v2" for a in addresses)
