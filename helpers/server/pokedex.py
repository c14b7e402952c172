"""The course's own dataset of the first 151 Pokémon, and the JSON the server builds from it.

Bodies follow PokéAPI's field names and nesting, with absolute URLs that point back at the
server that serves them, so code written against the real API works here unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .refs import ABILITY_IDS, STAT_IDS, TYPE_IDS

STAT_NAMES = ("hp", "attack", "defense", "special-attack", "special-defense", "speed")


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
