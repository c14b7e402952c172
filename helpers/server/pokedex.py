"""The course's own dataset of the first 151 Pokémon, and the JSON the server builds from it.

Bodies follow PokéAPI's field names and nesting, with absolute URLs that point back at the
server that serves them, so code written against the real API works here unchanged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .refs import ABILITY_IDS, STAT_IDS, TYPE_IDS

STAT_NAMES = ("hp", "attack", "defense", "special-attack", "special-defense", "speed")

# The real PokéAPI's rule for the ``{id or name}`` of a path: digits (optionally signed) are an
# id; letters, digits, ``-`` and ``+`` are a name; anything else is malformed (400).
_ID = re.compile(r"-?[0-9]+")
_NAME = re.compile(r"[0-9A-Za-z+-]+")
MAX_ID_DIGITS = 9


def parse_key(key: str) -> int | str:
    """The ``{id or name}`` of a PokéAPI path: an ``int`` for an id, the lower-cased name
    (names are case-insensitive) for a name.

    Raises ``ValueError`` for anything else, which every route answers with 400 Bad Request,
    as PokéAPI does. An id longer than ``MAX_ID_DIGITS`` characters (a limit of this server's
    own) is returned as 0, which no resource has (so it is a 404), without converting it: a
    long one would cost time for nothing, and Python refuses to convert over 4,300 digits.
    """
    if _ID.fullmatch(key):
        return int(key) if len(key) <= MAX_ID_DIGITS else 0
    if _NAME.fullmatch(key):
        return key.lower()
    raise ValueError(f"neither an id nor a name: {key!r}")


@dataclass(frozen=True)
class Pokemon:
    id: int
    name: str
    species: str
    order: int
    height: int
    weight: int
    base_experience: int
    types: tuple[str, ...]
    abilities: tuple[tuple[str, bool, int], ...]
    stats: tuple[tuple[str, int, int], ...]


@cache
def load_pokedex() -> tuple[Pokemon, ...]:
    """All Pokémon of the dataset, ordered by id (loaded once per process)."""
    raw = json.loads(resources.files("helpers.data").joinpath("pokemon.json").read_text("utf-8"))
    rows = []
    for p in raw["pokemon"]:
        rows.append(
            Pokemon(
                id=p["id"],
                name=p["name"],
                species=p["species"],
                order=p["order"],
                height=p["height"],
                weight=p["weight"],
                base_experience=p["base_experience"],
                types=tuple(p["types"]),
                abilities=tuple(
                    (a["name"], a["is_hidden"], a["slot"])
                    for a in sorted(p["abilities"], key=lambda a: a["slot"])
                ),
                stats=tuple((s, p["stats"][s], p["effort"][s]) for s in STAT_NAMES),
            )
        )
    rows.sort(key=lambda p: p.id)
    return tuple(rows)


class Pokedex:
    """Lookups by id or by name, and the PokéAPI-shaped bodies for one base URL."""

    def __init__(self, pokemon: tuple[Pokemon, ...] | None = None) -> None:
        self.pokemon = pokemon if pokemon is not None else load_pokedex()
        self._by_id = {p.id: p for p in self.pokemon}
        self._by_name = {p.name: p for p in self.pokemon}

    def __len__(self) -> int:
        return len(self.pokemon)

    def by_id(self, pokemon_id: int) -> Pokemon | None:
        return self._by_id.get(pokemon_id)

    def by_name(self, name: str) -> Pokemon | None:
        return self._by_name.get(name.lower())

    def find(self, key: str) -> Pokemon | None:
        """The Pokémon a path's ``{id or name}`` names, or None when there is none (404).

        Raises ``ValueError`` when ``key`` is neither an id nor a name (400): see
        :func:`parse_key`. Every route that takes a Pokémon uses this, so they agree.
        """
        parsed = parse_key(key)
        return self.by_id(parsed) if isinstance(parsed, int) else self._by_name.get(parsed)


def _ref(api: str, kind: str, name: str, key: str | int | None = None) -> dict[str, str]:
    return {"name": name, "url": f"{api}/{kind}/{key if key is not None else name}/"}


def pokemon_body(p: Pokemon, api: str) -> dict[str, Any]:
    """The ``/pokemon/{id}`` body. ``api`` is the absolute base URL ending in ``/api/v2``."""
    return {
        "id": p.id,
        "name": p.name,
        "base_experience": p.base_experience,
        "height": p.height,
        "weight": p.weight,
        "order": p.order,
        "is_default": True,
        "species": _ref(api, "pokemon-species", p.species, p.id),
        "forms": [_ref(api, "pokemon-form", p.name, p.id)],
        "types": [
            {"slot": slot, "type": _ref(api, "type", name, TYPE_IDS[name])}
            for slot, name in enumerate(p.types, start=1)
        ],
        "abilities": [
            {
                "ability": _ref(api, "ability", name, ABILITY_IDS[name]),
                "is_hidden": hidden,
                "slot": slot,
            }
            for name, hidden, slot in p.abilities
        ],
        "stats": [
            {"base_stat": base, "effort": effort, "stat": _ref(api, "stat", name, STAT_IDS[name])}
            for name, base, effort in p.stats
        ],
        "past_types": [],
        "past_abilities": [],
        "game_indices": [],
        "held_items": [],
        "moves": [],
        "location_area_encounters": f"{api}/pokemon/{p.id}/encounters",
        "sprites": {
            "front_default": None,
            "front_shiny": None,
            "front_female": None,
            "front_shiny_female": None,
            "back_default": None,
            "back_shiny": None,
            "back_female": None,
            "back_shiny_female": None,
            "other": {},
            "versions": {},
        },
        "cries": {"latest": None, "legacy": None},
    }
