"""What a sprite looks like, decoded pixel by pixel, and what it weighs, byte by byte.

The pictures are checked against the promises a learner can see when opening one: the type
colours (top two thirds the primary type, below the second type or a darker shade), the name in
black and the number in white drawn in the 5×7 font of :mod:`helpers.server.spritedata` at an
integer scale, as large as fits, centred; and the file is exactly the requested size.
"""

from __future__ import annotations

import pytest

from helpers.png import decode_png, encoded_size, read_chunks
from helpers.server.pokedex import Pokedex
from helpers.server.spritedata import FONT_ROWS, TYPE_COLOURS
from helpers.server.sprites import SpriteCache, draw

DEX = Pokedex()
BLACK, WHITE = (0, 0, 0), (255, 255, 255)
# Single and dual types, long and short names, names with a "-", 1- to 3-digit numbers.
POKEMON = [DEX.by_id(i) for i in (151, 4, 1, 122, 29, 25)]
# Sides around the limits of the layout: the 1 KiB sprite (text cut at the bottom), a bottom
# part just a glyph tall, a text height limit of 2 then 3 scales (62, 63), a long name's width
# limit (119, 120: "charmander" at scale 1 then 2), the default 16 KiB (73) and 64 KiB (147).
SIDES = [17, 18, 20, 21, 24, 30, 41, 42, 62, 63, 73, 84, 119, 120, 147]


def picture(pokemon, size: int) -> tuple[int, list[list[tuple[int, int, int]]]]:
    """(side, rows of RGB pixels) of the sprite, which must weigh exactly ``size`` bytes."""
    png = draw(pokemon, size)
    assert len(png) == size
    width, height, rgb = decode_png(png)
    assert width == height
    return width, [[tuple(rgb[i : i + 3]) for i in range(3 * width * y, 3 * width * (y + 1), 3)]
                   for y in range(height)]


def font_pixels(text: str, scale: int) -> set[tuple[int, int]]:
    """(x, y) of the ink of ``text`` in the 5×7 font: each font pixel a ``scale``-sided square,
    one blank font column between glyphs, (0, 0) the top left of the first glyph's cell."""
    ink = set()
    for n, ch in enumerate(text):
        for gy, line in enumerate(FONT_ROWS[ch].split("|")):
            for gx, dot in enumerate(line):
                if dot == "#":
                    x0, y0 = (n * (len(line) + 1) + gx) * scale, gy * scale
                    ink |= {(x0 + dx, y0 + dy) for dx in range(scale) for dy in range(scale)}
    return ink


def find_text(rows, colour, text: str) -> tuple[int, int, int]:
    """(left, top, scale) at which the pixels of ``colour`` are exactly ``text`` in the font,
    cut at the right and bottom edges of the image; fails if there is no such placement."""
    side = len(rows)
    ink = {(x, y) for y, row in enumerate(rows) for x, c in enumerate(row) if c == colour}
    assert ink, f"no {colour} pixels for {text!r}"
    for scale in range(1, side + 1):
        glyphs = font_pixels(text, scale)
        left = min(x for x, _ in ink) - min(x for x, _ in glyphs)
        top = min(y for _, y in ink) - min(y for _, y in glyphs)
        placed = {(x + left, y + top) for x, y in glyphs}
        if {(x, y) for x, y in placed if x < side and y < side} == ink:
            return left, top, scale
    pytest.fail(f"the {colour} pixels are not {text!r} in the font at any scale (side {side})")


def check_scale_and_centring(side: int, text: str, left: int, scale: int) -> None:
    """As large as fits (a pixel free on each side, at most a third of the image tall), centred
    (the margins differ by at most a pixel), or at scale 1 from the left edge, cut at the right."""
    width = len(text) * 6 - 1  # 5 columns per glyph, 1 between glyphs

    def fits(s: int) -> bool:
        return width * s <= side - 2 and 7 * s <= side / 3

    assert scale == 1 or fits(scale), (text, side, scale)
    assert not fits(scale + 1), (text, side, scale)
    if width * scale <= side:
        assert abs(left - (side - left - width * scale)) <= 1, (text, side, left, scale)
    else:
        assert left == 0, (text, side, left)


@pytest.mark.parametrize("side", SIDES)
def test_colours_name_and_number(side):
    """Every pixel is the background (the primary type's colour on the top two thirds, the
    second type's or a darker shade of the primary below), the name in black in the top part,
    or the number in white in the bottom part: nothing else, nothing missing."""
    for pokemon in POKEMON:
        size = encoded_size(side, side) + (0 if side % 2 else 25)  # with and without tEXt
        got, rows = picture(pokemon, size)
        assert got == side
        split = 2 * side // 3
        primary = TYPE_COLOURS[pokemon.types[0]]
        if len(pokemon.types) > 1:
            secondary = TYPE_COLOURS[pokemon.types[1]]
        else:  # a darker shade of the same colour: each channel about three fifths
            secondary = rows[-1][0]
            assert all(c / 2 < s < c * 0.7 for c, s in zip(primary, secondary, strict=True))
        name_left, name_top, name_scale = find_text(rows, BLACK, pokemon.name)
        name = {(x + name_left, y + name_top) for x, y in font_pixels(pokemon.name, name_scale)}
        number = f"#{pokemon.id}"
        num_left, num_top, num_scale = find_text(rows, WHITE, number)
        digits = {(x + num_left, y + num_top) for x, y in font_pixels(number, num_scale)}
        for y, row in enumerate(rows):
            for x, colour in enumerate(row):
                expected = (BLACK if (x, y) in name else WHITE if (x, y) in digits
                            else primary if y < split else secondary)
                assert colour == expected, (pokemon.name, side, x, y)
        check_scale_and_centring(side, pokemon.name, name_left, name_scale)
        check_scale_and_centring(side, number, num_left, num_scale)
        # The name: whole, in the top part, its middle half a glyph (3.5 px) above the middle
        # of the top part (to a pixel, for rounding), or on the first row if that cut it.
        middle = name_top + 3.5 * name_scale
        assert name_top + 7 * name_scale <= split, (pokemon.name, side)
        if name_top == 0:
            assert split / 2 - 3.5 - 3.5 * name_scale < 1, (pokemon.name, side)
        else:
            assert abs(middle - (split / 2 - 3.5)) <= 1, (pokemon.name, side, name_top)
        # The number: in the bottom part, centred in it; where that part is less than a glyph
        # tall, from its first row and cut at the bottom of the image.
        bottom = side - split
        if 7 * num_scale <= bottom:
            assert num_top >= split and num_top + 7 * num_scale <= side, (number, side)
            assert abs(num_top + 3.5 * num_scale - (split + bottom / 2)) <= 1, (number, side)
        else:
            assert num_top == split, (number, side, num_top)


def _usable(size: int, side: int) -> bool:
    """Whether a PNG of ``size`` bytes can hold a ``side``-pixel square: exactly, or with a
    remainder of at least 20 bytes, the smallest tEXt chunk."""
    rest = size - encoded_size(side, side)
    return rest == 0 or rest >= 20


@pytest.mark.parametrize("side", [1, 2, 3, 5, 8, 11, 14])
def test_tiny_sprites_are_exact_and_only_in_sprite_colours(side):
    """Below the smallest size the server sends, a sprite is still exactly its size and only
    made of its colours: the text is cut at the edges, never wrapped round or outside."""
    for pokemon in POKEMON:
        for extra in (0, 20, 31):
            size = encoded_size(side, side) + extra
            got, rows = picture(pokemon, size)
            # The largest square whose remainder a tEXt chunk can fill: ``side`` itself when
            # nothing is left over, perhaps a larger one when 20 or 31 bytes are.
            assert got == max(s for s in range(1, side + 9) if _usable(size, s)), (size, got)
            primary = TYPE_COLOURS[pokemon.types[0]]
            allowed = {primary, BLACK, WHITE, *(TYPE_COLOURS[t] for t in pokemon.types[1:])}
            for colour in {c for row in rows for c in row} - allowed:  # the darker shade only
                assert len(pokemon.types) == 1, colour
                assert all(c / 2 < s < c * 0.7 for c, s in zip(primary, colour, strict=True))


def test_every_size_is_exact_or_refused_clearly():
    """Every size from 92 bytes up gives a PNG of exactly that many bytes, with the largest
    square image that leaves a remainder a tEXt chunk can fill (nothing, or 20 bytes and more);
    the few smaller sizes no image can reach raise a ValueError that says so."""
    mew = DEX.by_id(151)
    sizes = [*range(60, 1500), *range(4000, 4200), 16 * 1024, 16 * 1024 + 1, 100 * 1024 - 7,
             *range(65536 - 40, 65536 + 40), 2 * 1024 * 1024 + 19]
    for size in sizes:
        if not any(_usable(size, side) for side in range(1, 10)) and size < 200:
            with pytest.raises(ValueError, match=f"{size} bytes cannot be encoded exactly"):
                draw(mew, size)
            continue
        png = draw(mew, size)
        assert len(png) == size, size
        chunks = list(read_chunks(png))
        side = int.from_bytes(chunks[0][1][:4], "big")
        assert _usable(size, side) and not _usable(size, side + 1) and not _usable(size, side + 2)
        texts = [data for kind, data in chunks if kind == b"tEXt"]
        if size > encoded_size(side, side):
            note = b"Comment\0mew #151, psychic; drawn by the course"
            assert texts[0][: len(note)] == note[: len(texts[0])], size
        else:
            assert texts == []


def test_cache_keeps_the_recently_used_sprites():
    """A sprite asked for again moves to the back of the queue: the one left unused longest
    goes first, and a cached sprite is served as the very same bytes, not drawn again."""
    a, b, c, d = (DEX.by_id(i) for i in (1, 2, 3, 4))
    cache = SpriteCache(max_bytes=3 * 4096)
    first_a, first_b = cache.get(a, 4096), cache.get(b, 4096)
    cache.get(c, 4096)
    assert cache.get(a, 4096) is first_a
    cache.get(d, 4096)  # over budget: b, unused longest, goes
    assert len(cache) == 3 and cache.bytes == 3 * 4096
    assert cache.get(a, 4096) is first_a
    assert cache.get(b, 4096) is not first_b


def test_cache_counts_the_bytes_of_what_it_drops():
    """A large sprite pushes out as many small ones as needed, and no more."""
    cache = SpriteCache(max_bytes=10 * 1024)
    for i in (1, 2, 3):
        cache.get(DEX.by_id(i), 3 * 1024)
    cache.get(DEX.by_id(4), 5 * 1024)
    assert (len(cache), cache.bytes) == (2, 8 * 1024)
    exact = SpriteCache(max_bytes=4096)
    kept = exact.get(DEX.by_id(25), 4096)  # exactly the budget: kept
    assert (len(exact), exact.bytes) == (1, 4096) and exact.get(DEX.by_id(25), 4096) is kept


def test_default_cache_holds_every_sprite_up_to_434_kib(monkeypatch):
    """The documented budget: all 151 sprites stay drawn at up to 434 KiB each, not at 435.
    (Drawing is replaced by blank bytes of the same size: only the budget is under test.)"""
    import helpers.server.sprites as sprites

    monkeypatch.setattr(sprites, "draw", lambda pokemon, size: bytes(size))
    for kib, kept in ((434, 151), (435, 150)):
        cache = SpriteCache()
        for pokemon in DEX.pokemon:
            cache.get(pokemon, kib * 1024)
        assert len(cache) == kept, kib
