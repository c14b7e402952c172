"""What ``nest_asyncio.apply()`` changes, shown in a process of its own.

Notebook 00 runs this with ``python scripts/nest_asyncio_demo.py``, so that the patch, which is
global and permanent, never touches the notebook's kernel. ``outer()`` stands for the kernel:
code running inside a loop that is already running.
"""

import asyncio

import nest_asyncio


async def inner():
    await asyncio.sleep(0.3)
    return "inner result"


async def ticker(ticks):
    for _ in range(10):
        await asyncio.sleep(0.1)
        ticks.append("tick")


def try_to_nest(label, start):
    """Call ``start(inner())`` from inside the running loop; print what happened."""
    coro = inner()
    try:
        result = start(coro)
    except RuntimeError as exc:
        coro.close()  # never started: close it, or Python warns that it was never awaited
        print(f"{label}: RuntimeError - {exc}")
    else:
        print(f"{label}: returned {result!r}")


async def outer():
    loop = asyncio.get_running_loop()
    print("before apply()")
    try_to_nest("  asyncio.run()", asyncio.run)
    try_to_nest("  loop.run_until_complete()", loop.run_until_complete)

    loop_class = type(loop)
    original = {
        "asyncio.run": asyncio.run,
        "asyncio.Task": asyncio.Task,
        "asyncio.Future": asyncio.Future,
        "loop.run_until_complete": loop_class.run_until_complete,
        "loop.run_forever": loop_class.run_forever,
        "loop._run_once": loop_class._run_once,
        "loop._check_running": loop_class._check_running,
    }
    nest_asyncio.apply()
    current = {
        "asyncio.run": asyncio.run,
        "asyncio.Task": asyncio.Task,
        "asyncio.Future": asyncio.Future,
        "loop.run_until_complete": loop_class.run_until_complete,
        "loop.run_forever": loop_class.run_forever,
        "loop._run_once": loop_class._run_once,
        "loop._check_running": loop_class._check_running,
    }
    print("apply() replaced:", [name for name in original if current[name] is not original[name]])
    print("asyncio.Task is now the pure-Python class:", asyncio.Task is asyncio.tasks._PyTask)

    print("after apply()")
    ticks = []
    ticking = asyncio.create_task(ticker(ticks))
    try_to_nest("  asyncio.run()", asyncio.run)
    print("  the ticker ran during the nested call:", len(ticks) > 0)
    try_to_nest("  loop.run_until_complete()", loop.run_until_complete)
    ticking.cancel()


if __name__ == "__main__":
    asyncio.run(outer())
