"""How a stream's consumer thread calls user callbacks (internal).

Plain callbacks run on the calling thread (the stream's own); a callback that returns an
awaitable (an ``async def``) is awaited on the event loop that connected the stream, and the
stream's thread waits for it, so one stream's callbacks run one at a time, in order. What a
callback raises goes to ``on_error`` as a ``CallbackError`` (or to the log), and the stream
goes on.
"""

import asyncio
import concurrent.futures
import inspect
import logging

from ._native import CallbackError

log = logging.getLogger("rtsp_worker")


async def _awaited(awaitable):
    return await awaitable


def _run(loop, callback, value):
    out = callback(value)
    if not inspect.isawaitable(out):
        return
    wrapper = _awaited(out)
    try:
        future = asyncio.run_coroutine_threadsafe(wrapper, loop)
    except RuntimeError:
        wrapper.close()
        if inspect.iscoroutine(out):
            out.close()
        raise RuntimeError("the event loop is closed: cannot await an async callback") from None
    while True:
        # Not future.result(timeout): on 3.11 its TimeoutError is the builtin one, which the
        # callback itself may raise.
        done, _ = concurrent.futures.wait([future], timeout=0.25)
        if done:
            future.result()  # the callback's own exception, if any
            return
        if loop.is_closed() or not loop.is_running():
            future.cancel()
            raise RuntimeError("the event loop stopped before the async callback finished")


def resolve(future, ok, value):
    """Hands a Rust future's outcome to its asyncio future (on the loop's thread)."""
    if future.done():  # cancelled meanwhile
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def deliver(loop, callback, value, on_error, stream_id):
    """Calls ``callback(value)``; returns False if it raised (reported)."""
    try:
        _run(loop, callback, value)
        return True
    except BaseException as exc:  # noqa: BLE001 - a user callback may raise anything
        name = getattr(callback, "__qualname__", repr(callback))
        err = CallbackError(
            f"stream {stream_id!r}: callback {name} raised {type(exc).__name__}: {exc}"
        )
        err.kind = "callback"
        err.stream_id = stream_id
        err.event = "callback"
        err.__cause__ = exc
        if on_error is None or on_error is callback:
            log.error("%s", err, exc_info=exc)
            return False
        try:
            _run(loop, on_error, err)
        except BaseException:  # noqa: BLE001
            log.exception("stream %r: on_error raised while reporting %s", stream_id, err)
        return False
