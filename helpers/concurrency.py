"""``gather_with_concurrency``: the semaphore pattern of notebook 04, ready to reuse."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def gather_with_concurrency(
    n: int, *aws: Awaitable[T], return_exceptions: bool = False
) -> list[T | BaseException] | list[Any]:
    """Await ``aws`` with at most ``n`` running at once; results come back in input order.

    Each awaitable waits for a slot of an ``asyncio.Semaphore(n)`` before it starts, so a
    coroutine does no work (opens no connection) until its turn. With ``return_exceptions``
    an exception becomes that position's result, as in :func:`asyncio.gather`; without it the
    first exception is raised at once, and the other awaitables are not cancelled: they keep
    running (and taking slots) unless the caller cancels them.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    semaphore = asyncio.Semaphore(n)

    async def limited(aw: Awaitable[T]) -> T:
        async with semaphore:
            return await aw

    return await asyncio.gather(*(limited(aw) for aw in aws), return_exceptions=return_exceptions)
