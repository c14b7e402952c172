"""Ids of the resources a Pokémon body refers to (types, abilities, stats), as PokéAPI numbers them.

PokéAPI's reference URLs end in the resource's id (``.../type/12/``), never its name, and client
libraries rely on it: pokebase, for one, parses ``int(url.split("/")[-2])``. These tables (from
PokéAPI's own CSV data, ``types.csv``, ``abilities.csv``, ``stats.csv``) cover every resource the
first 151 Pokémon refer to. The server also lists them (``/api/v2/type/`` ...) so a client can
turn a name into an id and back, as it would with the real API.
"""

from __future__ import annotations

TYPE_IDS: dict[str, int] = {
    "normal": 1, "fighting": 2, "flying": 3, "poison": 4, "ground": 5, "rock": 6, "bug": 7,
    "ghost": 8, "steel": 9, "fire": 10, "water": 11, "grass": 12, "electric": 13,
    "psychic": 14, "ice": 15, "dragon": 16, "dark": 17, "fairy": 18,
}

STAT_IDS: dict[str, int] = {
    "hp": 1, "attack": 2, "defense": 3, "special-attack": 4, "special-defense": 5, "speed": 6,
}

ABILITY_IDS: dict[str, int] = {
    "stench": 1, "battle-armor": 4, "sturdy": 5, "damp": 6, "limber": 7, "sand-veil": 8,
    "static": 9, "volt-absorb": 10, "water-absorb": 11, "oblivious": 12, "cloud-nine": 13,
    "compound-eyes": 14, "insomnia": 15, "immunity": 17, "flash-fire": 18, "shield-dust": 19,
    "own-tempo": 20, "intimidate": 22, "levitate": 26, "effect-spore": 27, "synchronize": 28,
    "clear-body": 29, "natural-cure": 30, "lightning-rod": 31, "serene-grace": 32,
    "swift-swim": 33, "chlorophyll": 34, "illuminate": 35, "trace": 36, "poison-point": 38,
    "inner-focus": 39, "water-veil": 41, "magnet-pull": 42, "soundproof": 43, "rain-dish": 44,
    "pressure": 46, "thick-fat": 47, "early-bird": 48, "flame-body": 49, "run-away": 50,
    "keen-eye": 51, "hyper-cutter": 52, "pickup": 53, "hustle": 55, "cute-charm": 56,
    "sticky-hold": 60, "shed-skin": 61, "guts": 62, "marvel-scale": 63, "liquid-ooze": 64,
    "overgrow": 65, "blaze": 66, "torrent": 67, "swarm": 68, "rock-head": 69, "drought": 70,
    "arena-trap": 71, "vital-spirit": 72, "shell-armor": 75, "tangled-feet": 77, "rivalry": 79,
    "steadfast": 80, "snow-cloak": 81, "gluttony": 82, "anger-point": 83, "unburden": 84,
    "dry-skin": 87, "download": 88, "iron-fist": 89, "adaptability": 91, "skill-link": 92,
    "hydration": 93, "solar-power": 94, "quick-feet": 95, "sniper": 97, "magic-guard": 98,
    "no-guard": 99, "technician": 101, "leaf-guard": 102, "mold-breaker": 104, "aftermath": 106,
    "anticipation": 107, "forewarn": 108, "unaware": 109, "tinted-lens": 110, "filter": 111,
    "scrappy": 113, "ice-body": 115, "frisk": 119, "reckless": 120, "sheer-force": 125,
    "unnerve": 127, "defiant": 128, "cursed-body": 130, "healer": 131, "friend-guard": 132,
    "weak-armor": 133, "multiscale": 136, "harvest": 139, "overcoat": 142, "poison-touch": 143,
    "regenerator": 144, "big-pecks": 145, "sand-rush": 146, "wonder-skin": 147, "analytic": 148,
    "imposter": 150, "infiltrator": 151, "moxie": 153, "justified": 154, "rattled": 155,
    "sand-force": 159, "competitive": 172, "neutralizing-gas": 256,
}
