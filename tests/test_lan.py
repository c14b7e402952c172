"""The classroom banner: 0.0.0.0 is not an address a student can type."""

from __future__ import annotations

from helpers.server import lan


def test_a_server_on_loopback_says_nothing_more():
    assert lan.room_banner("127.0.0.1", 8000) is None


def test_a_room_server_names_the_addresses_to_use(monkeypatch):
    monkeypatch.setattr(lan, "room_addresses", lambda: ["192.0.2.10", "198.51.100.7"])
    banner = lan.room_banner("0.0.0.0", 8000)
    assert banner == ("Students: POKEAPI_BASE_URL=http://192.0.2.10:8000/api/v2  or  "
                      "POKEAPI_BASE_URL=http://198.51.100.7:8000/api/v2")


def test_without_a_known_address_it_says_how_to_find_one(monkeypatch):
    monkeypatch.setattr(lan, "room_addresses", lambda: [])
    banner = lan.room_banner("0.0.0.0", 8000)
    assert banner is not None and "<this machine's address>:8000" in banner
    assert "ipconfig" in banner


def test_loopback_addresses_are_never_offered(monkeypatch):
    monkeypatch.setattr(lan.socket, "getaddrinfo", lambda *a, **k: [
        (2, 1, 6, "", ("127.0.1.1", 0)), (2, 1, 6, "", ("192.0.2.5", 0))])
    assert lan.room_addresses() == ["192.0.2.5"]


def test_a_machine_whose_name_does_not_resolve_gets_the_how_to_banner(monkeypatch):
    """A laptop whose own host name is not in DNS (common on a room's Wi-Fi): the server
    still starts, and the banner tells the instructor how to find the address."""
    def unresolvable(*args, **kwargs):
        raise lan.socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(lan.socket, "getaddrinfo", unresolvable)
    assert lan.room_addresses() == []
    banner = lan.room_banner("0.0.0.0", 8000)
    assert banner is not None and "<this machine's address>:8000" in banner
