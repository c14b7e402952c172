"""PokéAPI's ``{id or name}`` rule, the same on every route that takes one.

Every key below is sent to each route and must get the status written next to it. The rule
(digits are an id; letters, digits, ``-`` and ``+`` a name, in any case; anything else 400)
is the real PokéAPI's: an unknown key is ``404 Not Found`` and a malformed one ``400 Bad
Request``, both in plain text. The nine-character limit on ids is this server's own. The rule
is written once, in ``helpers.server.pokedex.parse_key``.
"""

from __future__ import annotations

import pytest

from helpers.server.pokedex import Pokedex, parse_key
from tests.conftest import get

# key, the Pokémon's status, the type route's status (types have their own ids and names).
KEYS = [
    ("25", 200, 404),            # pikachu; there are 18 types, none with id 25
    ("000000025", 200, 404),     # zeros in front: still the id 25, nine characters
    ("0000000025", 404, 404),    # ten characters: too long to be an id, not an error
    ("10", 200, 200),            # caterpie; type 10 is fire
    ("000000010", 200, 200),     # nine characters, on both routes
    ("0000000010", 404, 404),    # ten: not an id on either
    ("pikachu", 200, 404),
    ("PikaChu", 200, 404),       # names are case-insensitive
    ("mr-mime", 200, 404),       # a hyphen belongs to the name
    ("nidoran-f", 200, 404),
    ("+25", 404, 404),           # a plus makes it a name, and no name is "+25"
    ("1e3", 404, 404),           # a name too, not the number 1000
    ("-00000001", 404, 404),     # nine characters: the id -1
    ("FIRE", 404, 200),
    ("0", 404, 404),             # ids start at 1
    ("-1", 404, 404),            # a signed id is an id, and no resource has it
    ("152", 404, 404),           # the first id after the course's 151
    ("99999999999999999999", 404, 404),
    ("pika_chu", 400, 400),      # an underscore is in no name
    ("pika%20chu", 400, 400),    # nor a space
    ("%C3%A9", 400, 400),        # nor a letter outside A-Z
]
ERROR_TEXT = {404: "Not Found", 400: "Bad Request"}


def _check(response, status: int) -> None:
    assert response.status == status
    if status != 200:
        assert response.text == ERROR_TEXT[status]
        assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(("key", "status", "_"), KEYS)
def test_every_pokemon_route_takes_the_same_keys(port, key, status, _):
    _check(get(port, f"/api/v2/pokemon/{key}"), status)
    _check(get(port, f"/api/v2/pokemon/{key}/"), status)
    _check(get(port, f"/api/v2/pokemon/{key}/encounters"), status)
    _check(get(port, f"/api/v2/pokemon/{key}/encounters/"), status)
    _check(get(port, f"/sprites/{key}.png"), status)


@pytest.mark.parametrize(("key", "_", "status"), KEYS)
def test_linked_resources_take_the_same_keys(port, key, _, status):
    _check(get(port, f"/api/v2/type/{key}"), status)
    _check(get(port, f"/api/v2/type/{key}/"), status)


@pytest.mark.parametrize(("path", "status"), [
    ("/api/v2/pokemon-species/MR-MIME", 200), ("/api/v2/pokemon-species/122", 200),
    ("/api/v2/ability/overgrow", 200), ("/api/v2/stat/speed", 200),
    ("/api/v2/pokemon-form/000000025", 200), ("/api/v2/stat/0000000001", 404),
    ("/api/v2/ability/over_grow", 400),
])
def test_every_linked_kind_takes_the_same_keys(port, path, status):
    _check(get(port, path), status)


def test_parse_key_reads_ids_and_names_and_refuses_the_rest():
    assert parse_key("25") == 25 and parse_key("-3") == -3 and parse_key("007") == 7
    assert parse_key("123456789") == 123456789  # nine digits: an id like any other
    assert parse_key("1234567890") == 0  # longer: no resource's id, never converted
    assert parse_key("-12345678") == -12345678 and parse_key("-123456789") == 0
    assert parse_key("Mr-Mime") == "mr-mime" and parse_key("a+b") == "a+b"
    for bad in ("", "pika chu", "pika_chu", "é", "1.5", "25/"):
        with pytest.raises(ValueError, match="neither an id nor a name"):
            parse_key(bad)


def test_find_is_by_id_for_an_id_and_by_name_for_a_name():
    dex = Pokedex()
    assert dex.find("25").name == "pikachu" and dex.find("PIKACHU").id == 25
    assert dex.find("0") is None and dex.find("missingno") is None
    assert dex.find("1" * 12) is None
    with pytest.raises(ValueError):
        dex.find("pika_chu")
