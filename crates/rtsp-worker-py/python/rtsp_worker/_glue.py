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


class _LoopGone(Exception):
    """The loop that should run an async callback stopped or closed (the program is ending):
    not the callback's fault, so neither reported to on_error nor counted."""


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
        raise _LoopGone("the event loop is closed") from None
    while True:
        # Not future.result(timeout): on 3.11 its TimeoutError is the builtin one, which the
        # callback itself may raise.
        done, _ = concurrent.futures.wait([future], timeout=0.25)
        if done:
            if future.cancelled():  # the loop cancelled its tasks: it is shutting down
                raise _LoopGone("the event loop cancelled the callback")
            future.result()  # the callback's own exception, if any
            return
        if loop.is_closed() or not loop.is_running():
            future.cancel()
            raise _LoopGone("the event loop stopped before the callback finished")


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
    except _LoopGone as gone:
        log.debug("stream %r: a result was not delivered: %s", stream_id, gone)
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
        except _LoopGone:
            log.error("%s", err, exc_info=exc)
        except BaseException:  # noqa: BLE001
            log.exception("stream %r: on_error raised while reporting %s", stream_id, err)
        return False
