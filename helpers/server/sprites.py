"""``GET /sprites/{id or name}.png``: a picture of each Pokémon, drawn here, streamed in chunks.

No game art: each sprite is the Pokémon's type colours (the primary type above, the second type
or a darker shade below), its name and its number in a 5×7 pixel font, encoded by the course's
own PNG encoder (:mod:`helpers.png`). The same Pokémon and size always give the same bytes.

Why it exists: notebook 09 downloads files. ``--sprite-kb`` sets every sprite's size exactly
(the image grows with it, and a tEXt chunk pads the last few bytes), so a learner can make the
downloads as large as they like and watch that a streaming client's memory does not grow. The
body is written in :data:`CHUNK` pieces after the simulated latency, with a ``Content-Length``,
so the client really receives it piece by piece.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections import OrderedDict

from aiohttp import web

from ..png import encode_rgb, encoded_size
from .pokedex import Pokedex, Pokemon
from .settings import ServerSettings
from .spritedata import FONT_ROWS, TYPE_COLOURS

CHUNK = 16 * 1024
"""Bytes per write: the server sends a sprite in pieces of this size, yielding between them."""

FONT = {ch: [row == "#" for line in rows.split("|") for row in line]
        for ch, rows in FONT_ROWS.items()}
GLYPH_W, GLYPH_H = 5, 7

# A key is a file name: an id or a name (PokéAPI's rule), then ".png" (any case).
_FILE = re.compile(r"(?P<stem>[^/]*)\.png", re.IGNORECASE)


def side_for(size: int) -> tuple[int, int]:
    """(side of the square image, tEXt bytes) so that the PNG is exactly ``size`` bytes.

    The largest image that fits, then a tEXt chunk for the remainder; a remainder too small for
    a chunk (under 20 bytes: 12 of framing and the keyword) takes one pixel row off the side.
    Raises ``ValueError`` for the few sizes no image can reach (all under 92 bytes).
    """
    side = math.isqrt(size // 3)  # too large: each pixel takes 3 bytes, and there is more
    while side >= 1:
        rest = size - encoded_size(side, side)
        if rest == 0 or rest >= _TEXT_MIN:
            return side, (rest - 12 if rest else 0)
        side -= 1
    raise ValueError(f"a sprite of {size} bytes cannot be encoded exactly")


_KEYWORD = b"Comment\x00"
_TEXT_MIN = 12 + len(_KEYWORD)


def draw(pokemon: Pokemon, size: int) -> bytes:
    """The sprite of ``pokemon`` as a PNG of exactly ``size`` bytes (deterministic)."""
    side, text_bytes = side_for(size)
    primary = TYPE_COLOURS[pokemon.types[0]]
    secondary = (TYPE_COLOURS[pokemon.types[1]] if len(pokemon.types) > 1
                 else tuple(c * 3 // 5 for c in primary))
    split = side * 2 // 3  # the primary colour covers the top two thirds: it dominates
    pixels = [bytearray(bytes(primary) * side) for _ in range(split)]
    pixels += [bytearray(bytes(secondary) * side) for _ in range(side - split)]
    _text(pixels, pokemon.name, top=split // 2 - GLYPH_H, colour=(0, 0, 0))
    _text(pixels, f"#{pokemon.id}", top=split + max(0, (side - split - GLYPH_H) // 2),
          colour=(255, 255, 255))
    text = b""
    if text_bytes:
        note = (f"{pokemon.name} #{pokemon.id}, {'/'.join(pokemon.types)}; drawn by the course"
                " (no game art), padded to the configured size. ").encode("latin-1")
        text = _KEYWORD + bytes(itertools.islice(itertools.cycle(note), text_bytes - len(_KEYWORD)))
    return encode_rgb(side, side, [bytes(row) for row in pixels], text)


def _text(pixels: list[bytearray], text: str, *, top: int, colour: tuple[int, int, int]) -> None:
    """Draw ``text`` centred on the rows from ``top``, as large as fits; clipped if it can't."""
    side = len(pixels)  # the image is square
    width = len(text) * (GLYPH_W + 1) - 1
    scale = max(1, min((side - 2) // width, side // 3 // GLYPH_H))
    left = max(0, (side - width * scale) // 2)
    top = max(0, top - (scale - 1) * GLYPH_H // 2)
    ink = bytes(colour)
    for n, ch in enumerate(text):
        glyph = FONT[ch]
        for gy in range(GLYPH_H):
            for gx in range(GLYPH_W):
                if not glyph[gy * GLYPH_W + gx]:
                    continue
                for dy in range(scale):
                    y = top + gy * scale + dy
                    if y >= side:
                        break
                    for dx in range(scale):
                        x = left + (n * (GLYPH_W + 1) + gx) * scale + dx
                        if x < side:
                            pixels[y][3 * x : 3 * x + 3] = ink


CACHE_BYTES = 64 * 1024 * 1024
"""Most bytes of drawn sprites kept in memory: all 151 at up to 434 KiB each, fewer above."""


class SpriteCache:
    """Drawn sprites, least recently used first out, within a budget of bytes.

    A classroom asks for the same 151 sprites again and again, so drawing each once pays. A
    budget in bytes rather than in entries keeps a server started with ``--sprite-kb 16384``
    from holding 151 × 16 MiB.
    """

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[int, int], bytes] = OrderedDict()

    def get(self, pokemon: Pokemon, size: int) -> bytes:
        key = (pokemon.id, size)
        png = self._items.get(key)
        if png is not None:
            self._items.move_to_end(key)
            return png
        png = draw(pokemon, size)
        if size <= self.max_bytes:
            self._items[key] = png
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self.bytes -= len(old)
        return png

    def __len__(self) -> int:
        return len(self._items)


_CACHE = SpriteCache()


def sprite_bytes(pokemon: Pokemon, size: int) -> bytes:
    """:func:`draw`, remembered within :data:`CACHE_BYTES`."""
    return _CACHE.get(pokemon, size)


class SpriteResponse(web.StreamResponse):
    """A PNG sent in :data:`CHUNK`-sized writes when the response is finished.

    The body is written in ``write_eof``, not in the handler: the server's middleware prepares
    the response, waits out the simulated latency and then calls ``write_eof``, so the latency
    applies to sprites as to every other answer, and the chunks leave after it.
    """

    def __init__(self, body: bytes) -> None:
        super().__init__(status=200, headers={"Content-Type": "image/png",
                                              "Cache-Control": "public, max-age=86400"})
        self.content_length = len(body)
        self._png = body
        self._send_body = True
        self.chunks_written = 0

    async def prepare(self, request: web.BaseRequest):  # type: ignore[override]
        self._send_body = request.method != "HEAD"
        return await super().prepare(request)

    async def write_eof(self, data: bytes = b"") -> None:
        if self.prepared and self._send_body and not self.chunks_written:
            for start in range(0, len(self._png), CHUNK):
                await self.write(self._png[start : start + CHUNK])
                self.chunks_written += 1
                await asyncio.sleep(0)  # let other answers due now go out between pieces
        await super().write_eof(data)


def sprite_handler(dex_key: web.AppKey[Pokedex], settings_key: web.AppKey[ServerSettings]):
    """The route's handler, reading the Pokédex and ``sprite_kb`` from the app.

    Keys are taken as arguments so that this module does not import ``app`` (which imports it).
    """

    async def sprite(request: web.Request) -> web.StreamResponse:
        match = _FILE.fullmatch(request.match_info["file"])
        if match is None:
            return web.Response(status=404, text="Not Found")  # not a .png file
        try:
            found = request.app[dex_key].find(match["stem"])
        except ValueError:  # the same keys as /pokemon/{id or name}, the same errors
            return web.Response(status=400, text="Bad Request")
        if found is None:
            return web.Response(status=404, text="Not Found")
        return SpriteResponse(sprite_bytes(found, request.app[settings_key].sprite_kb * 1024))

    return sprite
