"""The course's dataset of 151 Pokémon, checked on its own terms and against known facts."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import requests

from helpers.server.pokedex import STAT_NAMES, Pokedex, load_pokedex

TYPES = {"normal", "fire", "water", "grass", "electric", "ice", "fighting", "poison", "ground",
         "flying", "psychic", "bug", "rock", "ghost", "dragon", "dark", "steel", "fairy"}


def test_151_entries_with_unique_ids_and_names():
    dex = load_pokedex()
    assert len(dex) == 151
    assert [p.id for p in dex] == list(range(1, 152))
    names = [p.name for p in dex]
    assert len(set(names)) == 151
    assert all(n == n.lower() and n.strip() == n and " " not in n for n in names)


def test_types_and_numbers_are_sensible():
    for p in load_pokedex():
        assert 1 <= len(p.types) <= 2, p.name
        assert set(p.types) <= TYPES, p.name
        assert len(set(p.types)) == len(p.types)
        assert p.height > 0 and p.weight > 0 and p.base_experience > 0, p.name
        assert [s for s, _, _ in p.stats] == list(STAT_NAMES)
        assert all(base > 0 for _, base, _ in p.stats)
        assert p.abilities, p.name


def test_spot_checks():
    dex = Pokedex()
    bulbasaur = dex.by_id(1)
    assert bulbasaur is not None
    assert (bulbasaur.name, bulbasaur.types, bulbasaur.height, bulbasaur.weight) == (
        "bulbasaur", ("grass", "poison"), 7, 69)
    assert dex.by_name("pikachu").id == 25  # type: ignore[union-attr]
    assert dex.by_name("pikachu").types == ("electric",)  # type: ignore[union-attr]
    assert dex.by_id(150).name == "mewtwo"  # type: ignore[union-attr]
    assert dex.by_id(150).types == ("psychic",)  # type: ignore[union-attr]
    assert dex.by_id(151).name == "mew"  # type: ignore[union-attr]
    assert dex.by_id(6).types == ("fire", "flying")  # type: ignore[union-attr]  # charizard
    assert dex.by_id(130).types == ("water", "flying")  # type: ignore[union-attr]  # gyarados
    assert dex.by_id(122).name == "mr-mime"  # type: ignore[union-attr]
    assert dex.by_name("MEW").id == 151  # type: ignore[union-attr]
    assert dex.by_id(0) is None and dex.by_id(152) is None


def test_the_articles_sequential_loop(api):
    """The article's loop, one request at a time, pointed at the local server."""
    out = io.StringIO()
    with redirect_stdout(out):
        for number in range(1, 151):
            url = f"{api.base_url}/pokemon/{number}"
            resp = requests.get(url, timeout=10)
            pokemon = resp.json()
            print(pokemon["name"])
    names = out.getvalue().split()
    assert len(names) == 150
    assert names[0] == "bulbasaur" and names[24] == "pikachu" and names[-1] == "mewtwo"


def test_bodies_say_what_pokeapi_says_of_a_default_form():
    """Each of the 151 is its species' default form, listed under its own id, as PokéAPI has it."""
    from helpers.server.pokedex import pokemon_body

    for p in load_pokedex():
        body = pokemon_body(p, "http://h/api/v2")
        assert body["is_default"] is True
        assert body["forms"] == [{"name": p.name, "url": f"http://h/api/v2/pokemon-form/{p.id}/"}]
        assert body["species"]["url"] == f"http://h/api/v2/pokemon-species/{p.id}/"
        assert [t["slot"] for t in body["types"]] == list(range(1, len(p.types) + 1))
        slots = [a["slot"] for a in body["abilities"]]
        assert slots == sorted(slots)
