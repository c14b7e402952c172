"""A tiny PNG encoder and decoder in pure Python (``zlib`` for checksums and inflation only).

Why the course has its own: the local server draws a sprite for every Pokémon without any
image library (the server needs nothing beyond aiohttp), and notebook 09 needs CPU work per
response that a learner can see and measure. Decoding a PNG and counting its colours in pure
Python is such work: it holds the GIL and grows with the number of pixels.

Only what the course needs: 8-bit RGB (colour type 2) or RGBA (6), no interlacing. The encoder
writes the image data as *stored* (uncompressed) deflate blocks built here byte by byte, so the
output is the same on every machine and zlib version, and the file size follows the number of
pixels, which is how the server's ``--sprite-kb`` sets the size of a sprite.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_STORED_BLOCK = 65535  # the largest stored deflate block (RFC 1951 §3.2.4)
_CHUNK_OVERHEAD = 12  # length, type and CRC around every chunk's data


class PNGError(ValueError):
    """The bytes are not a PNG this decoder understands, or they are damaged."""


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, and the CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def stored_deflate(data: bytes) -> bytes:
    """A zlib stream (RFC 1950) holding ``data`` in stored deflate blocks: no compression."""
    out = bytearray(b"\x78\x01")  # deflate, 32 KiB window, no preset dictionary, level 0
    blocks = range(0, len(data), _STORED_BLOCK) if data else range(1)
    for start in blocks:
        block = data[start : start + _STORED_BLOCK]
        final = start + _STORED_BLOCK >= len(data)
        out += bytes([1 if final else 0]) + struct.pack("<HH", len(block), 0xFFFF ^ len(block))
        out += block
    out += struct.pack(">I", zlib.adler32(data))
    return bytes(out)


def encoded_size(width: int, height: int, text_bytes: int = 0) -> int:
    """The exact size of :func:`encode_rgb`'s output, without building it."""
    raw = height * (1 + 3 * width)
    blocks = max(1, -(-raw // _STORED_BLOCK))
    idat = 2 + raw + 5 * blocks + 4
    size = len(SIGNATURE) + (_CHUNK_OVERHEAD + 13) + (_CHUNK_OVERHEAD + idat) + _CHUNK_OVERHEAD
    return size + (_CHUNK_OVERHEAD + text_bytes if text_bytes else 0)


def encode_rgb(width: int, height: int, rows: Sequence[bytes], text: bytes = b"") -> bytes:
    """A PNG of ``rows`` (``height`` rows of ``3 * width`` bytes, RGB), with an optional tEXt.

    ``text`` is the data of a tEXt chunk (``keyword\\0text``, Latin-1), placed before IEND.
    """
    if width < 1 or height < 1 or len(rows) != height:
        raise ValueError(f"need {height} rows for a {width}x{height} image, got {len(rows)}")
    if any(len(row) != 3 * width for row in rows):
        raise ValueError(f"every row must hold {3 * width} bytes (RGB)")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (None) on every row
    parts = [SIGNATURE, chunk(b"IHDR", ihdr), chunk(b"IDAT", stored_deflate(raw))]
    if text:
        parts.append(chunk(b"tEXt", text))
    parts.append(chunk(b"IEND", b""))
    return b"".join(parts)


def read_chunks(data: bytes) -> Iterable[tuple[bytes, bytes]]:
    """(type, data) of every chunk, CRCs checked; raises :class:`PNGError` on damage."""
    if not data.startswith(SIGNATURE):
        raise PNGError("not a PNG: the 8-byte signature is missing")
    pos = len(SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise PNGError(f"truncated chunk header at byte {pos}")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc_bytes = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc_bytes) != 4:
            raise PNGError(f"truncated {kind!r} chunk at byte {pos}")
        if struct.unpack(">I", crc_bytes)[0] != zlib.crc32(kind + body):
            raise PNGError(f"bad CRC in the {kind!r} chunk at byte {pos}")
        yield kind, body
        pos += 12 + length
        if kind == b"IEND":
            return
    raise PNGError("no IEND chunk: the file is truncated")


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, RGB bytes row after row) of an 8-bit RGB or RGBA PNG (alpha dropped)."""
    width = height = 0
    channels = 0
    idat = bytearray()
    for kind, body in read_chunks(data):
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise PNGError("only 8-bit RGB or RGBA without interlacing is supported")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    if not channels:
        raise PNGError("no IHDR chunk")
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise PNGError(f"image data holds {len(raw)} bytes, expected {height * (stride + 1)}")
    out = bytearray()
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous,
                        channels)
        out += row if channels == 3 else bytes(b for i, b in enumerate(row) if i % 4 != 3)
        previous = row
    return width, height, bytes(out)


def _unfilter(kind: int, row: bytearray, prev: bytearray, bpp: int) -> bytearray:
    """Undo one row's filter (PNG specification §9)."""
    if kind == 0:
        return row
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = prev[i]
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            upper_left = prev[i - bpp] if i >= bpp else 0
            p = left + up - upper_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
            pred = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
            row[i] = (row[i] + pred) & 0xFF
        else:
            raise PNGError(f"unknown filter type {kind}")
    return row


def dominant_colour(data: bytes) -> tuple[int, int, int]:
    """Decode a PNG and return its most frequent colour, counting every pixel in Python.

    Deliberately plain Python: this is the CPU work per response of notebook 09. It holds the
    GIL from start to end, so only another *process* can run it in parallel.
    """
    _, _, pixels = decode_png(data)
    counts = Counter(pixels[i : i + 3] for i in range(0, len(pixels), 3))
    colour = counts.most_common(1)[0][0]
    return colour[0], colour[1], colour[2]
