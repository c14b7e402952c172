"""Fetch three Pokémon with aiohttp: the shape of every asyncio script.

Run it from the notebooks folder: ``python scripts/three_pokemon.py``. It asks the server that
``POKEAPI_BASE_URL`` names (notebook 00 sets it to its local server).
"""

import asyncio

import aiohttp

from helpers import client_headers, pokeapi_base_url


async def fetch_name(session, number):
    async with session.get(f"{pokeapi_base_url()}/pokemon/{number}") as response:
        response.raise_for_status()
        return (await response.json())["name"]


async def main():
    async with aiohttp.ClientSession(headers=client_headers()) as session:
        for number in (1, 4, 7):
            print(number, await fetch_name(session, number))


if __name__ == "__main__":
    asyncio.run(main())  # the one place where a script starts the event loop
