"""``GET /sprites/{id or name}.png``: sizes, PNG validity, determinism, chunks, errors, latency."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib

import aiohttp
import pytest

from helpers.png import SIGNATURE, PNGError, decode_png, dominant_colour, read_chunks
from helpers.server.cli import build_parser, settings_from_args
from helpers.server.pokedex import Pokedex
from helpers.server.settings import ServerSettings
from helpers.server.sprites import TYPE_COLOURS, draw
from tests.conftest import get, serve


def _ihdr(png: bytes) -> tuple[int, int, int, int]:
    assert png[:8] == SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR"), "IHDR must be the first chunk"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    return width, height, depth, colour


@pytest.mark.parametrize("kb", [1, 2, 16, 100, 1024])
def test_size_is_exactly_sprite_kb(kb):
    dex = Pokedex()
    for pokemon in (dex.by_id(1), dex.by_id(122), dex.by_id(151)):
        png = draw(pokemon, kb * 1024)
        assert len(png) == kb * 1024
        width, height, depth, colour = _ihdr(png)
        assert width == height >= 1 and (depth, colour) == (8, 2)
        # every chunk's CRC is right and the image decodes to width x height RGB pixels
        w, h, pixels = decode_png(png)
        assert (w, h) == (width, height) and len(pixels) == 3 * w * h


def test_pictures_are_deterministic_and_differ_per_pokemon():
    dex = Pokedex()
    first = [draw(p, 16 * 1024) for p in dex.pokemon]
    again = [draw(p, 16 * 1024) for p in dex.pokemon]
    assert first == again
    assert len(set(first)) == len(first) == 151


def test_primary_type_colour_dominates():
    dex = Pokedex()
    for pokemon in dex.pokemon:
        assert dominant_colour(draw(pokemon, 4 * 1024)) == TYPE_COLOURS[pokemon.types[0]]


def test_decoder_refuses_damage():
    png = bytearray(draw(Pokedex().by_id(25), 4 * 1024))
    with pytest.raises(PNGError, match="signature"):
        decode_png(b"GIF89a" + bytes(png[6:]))
    png[40] ^= 0xFF  # inside the IDAT chunk
    with pytest.raises(PNGError, match="CRC"):
        list(read_chunks(bytes(png)))
    with pytest.raises(PNGError, match=r"truncated|IEND"):
        decode_png(bytes(draw(Pokedex().by_id(25), 4 * 1024))[:-20])


def test_decoder_undoes_every_filter():
    """Rows filtered with Sub, Up, Average and Paeth (as other encoders write) decode exactly."""
    width, rows = 4, [bytes(range(i, i + 12)) for i in (0, 40, 80, 120, 160)]

    def filtered(kind: int, row: bytes, prev: bytes) -> bytes:
        out = bytearray()
        for i, value in enumerate(row):
            left = row[i - 3] if i >= 3 else 0
            up = prev[i]
            upper_left = prev[i - 3] if i >= 3 else 0
            p = left + up - upper_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
            paeth = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
            pred = [0, left, up, (left + up) // 2, paeth][kind]
            out.append((value - pred) & 0xFF)
        return bytes([kind]) + bytes(out)

    prev = bytes(12)
    raw = b""
    for kind, row in zip([0, 1, 2, 3, 4], rows, strict=True):
        raw += filtered(kind, row, prev)
        prev = row
    from helpers.png import chunk

    png = (SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, 5, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    assert decode_png(png) == (width, 5, b"".join(rows))


@pytest.mark.parametrize("key", ["25", "pikachu", "PIKACHU", "Pikachu", "025", "25.PNG"])
def test_sprite_by_id_or_name(api, port, key):
    path = f"/sprites/{key}" if key.lower().endswith(".png") else f"/sprites/{key}.png"
    r = get(port, path)
    assert r.status == 200
    assert r.headers["content-type"] == "image/png"
    assert int(r.headers["content-length"]) == len(r.body) == api.settings.sprite_kb * 1024
    assert r.body == draw(Pokedex().by_id(25), api.settings.sprite_kb * 1024)


@pytest.mark.parametrize("key", ["0", "152", "-1", "agumon", "999999999999"])
def test_unknown_sprite_is_404_not_found(port, key):
    r = get(port, f"/sprites/{key}.png")
    assert (r.status, r.text) == (404, "Not Found")
    assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("path", ["/sprites/25", "/sprites/25.gif", "/sprites/25.png/",
                                  "/sprites/", "/sprites/25.png.gif"])
def test_not_a_png_file_is_404(port, path):
    r = get(port, path)
    assert (r.status, r.text) == (404, "Not Found")


@pytest.mark.parametrize("key", ["pika_chu", "pika%20chu", "%C3%A9", "1;2", ".png", "pika.chu", ""])
def test_malformed_sprite_key_is_400(port, key):
    r = get(port, f"/sprites/{key}.png")
    assert (r.status, r.text) == (400, "Bad Request")
    assert r.headers["content-type"].startswith("text/plain")


def test_head_sends_headers_only(api, port):
    r = get(port, "/sprites/1.png", method="HEAD")
    assert r.status == 200
    assert int(r.headers["content-length"]) == api.settings.sprite_kb * 1024
    assert r.body == b""


def test_body_arrives_in_several_chunks_after_the_latency():
    asyncio.run(_test_body_arrives_in_several_chunks_after_the_latency())


async def _test_body_arrives_in_several_chunks_after_the_latency():
    """A 1 MiB sprite: the client reads it in pieces, and the first byte waits the latency."""
    async with serve(latency=0.2, sprite_kb=1024) as server, aiohttp.ClientSession() as session:
        url = f"{server.origin}/sprites/6.png"
        started = time.perf_counter()
        async with session.get(url) as response:
            assert response.status == 200
            pieces = [len(piece) async for piece in response.content.iter_any()]
        elapsed = time.perf_counter() - started
    assert sum(pieces) == 1024 * 1024
    # the server writes 64 pieces of 16 KiB; the socket merges some, never all of them
    assert len(pieces) >= 4, pieces
    assert max(pieces) < 1024 * 1024
    assert elapsed >= 0.2  # the simulated latency applies to sprites


def test_server_writes_chunk_sized_pieces(monkeypatch):
    asyncio.run(_test_server_writes_chunk_sized_pieces(monkeypatch))


async def _test_server_writes_chunk_sized_pieces(monkeypatch):
    """What the server hands to the socket: one write per 16 KiB (CHUNK), not one for the body."""
    from helpers.server.sprites import SpriteResponse

    writes: list[int] = []
    original = SpriteResponse.write

    async def counting_write(self, data):
        writes.append(len(data))
        await original(self, data)

    monkeypatch.setattr(SpriteResponse, "write", counting_write)
    async with serve(sprite_kb=100) as server, aiohttp.ClientSession() as session:
        async with session.get(f"{server.origin}/sprites/1.png") as response:
            body = await response.read()
    assert len(body) == 100 * 1024
    # 16 KiB pieces, as notebook 09 tells the learner: six whole ones and 4 KiB left over
    assert writes == [16 * 1024] * 6 + [4 * 1024]


def test_sprites_are_counted_and_rate_limited():
    asyncio.run(_test_sprites_are_counted_and_rate_limited())


async def _test_sprites_are_counted_and_rate_limited():
    async with serve(rate_limit=2) as server, aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(3):
            async with session.get(f"{server.origin}/sprites/1.png") as response:
                await response.read()
                statuses.append(response.status)
        from tests.conftest import stats_of

        stats = await stats_of(server)
    assert statuses == [200, 200, 429]
    assert stats["requests"] == 3 and stats["by_status"] == {"200": 2, "429": 1}


def test_many_concurrent_downloads_get_their_own_bytes():
    asyncio.run(_test_many_concurrent_downloads_get_their_own_bytes())


async def _test_many_concurrent_downloads_get_their_own_bytes():
    dex = Pokedex()
    async with serve(sprite_kb=64) as server, aiohttp.ClientSession() as session:
        async def one(i: int) -> bytes:
            async with session.get(f"{server.origin}/sprites/{i}.png") as response:
                return await response.read()

        bodies = await asyncio.gather(*(one(i) for i in range(1, 152)))
    assert bodies == [draw(p, 64 * 1024) for p in dex.pokemon]


def test_cache_keeps_within_its_byte_budget():
    from helpers.server.sprites import SpriteCache

    dex = Pokedex()
    cache = SpriteCache(max_bytes=10 * 4096)
    first = [cache.get(p, 4096) for p in dex.pokemon[:25]]
    assert len(cache) == 10 and cache.bytes == 10 * 4096
    assert cache.get(dex.by_id(25), 4096) is first[-1]  # the most recent ones stay
    assert first == [draw(p, 4096) for p in dex.pokemon[:25]]
    big = cache.get(dex.by_id(1), 11 * 4096)  # larger than the whole budget: drawn, not kept
    assert len(big) == 11 * 4096 and cache.bytes <= 10 * 4096


@pytest.mark.parametrize("value", [0, -1, 16 * 1024 + 1, 1.5, True, "8"])
def test_sprite_kb_is_validated(value):
    with pytest.raises((TypeError, ValueError), match="sprite_kb"):
        ServerSettings(sprite_kb=value)


def test_cli_option_and_help():
    parser = build_parser()
    args = parser.parse_args(["--sprite-kb", "64"])
    assert settings_from_args(args, "k").sprite_kb == 64
    assert settings_from_args(parser.parse_args([]), "k").sprite_kb == 16
    assert "--sprite-kb" in parser.format_help() and "/sprites/" in parser.format_help()


def test_launcher_passes_sprite_kb():
    from helpers import start_local_api

    with start_local_api(sprite_kb=3) as api:
        import urllib.request

        with urllib.request.urlopen(f"{api.origin}/sprites/bulbasaur.png", timeout=10) as r:
            assert len(r.read()) == 3 * 1024
    with pytest.raises(ValueError, match="sprite_kb"):
        start_local_api(sprite_kb=0)
