"""rtsp_worker: many RTSP cameras in, tracks out, on a Rust engine.

The seed's asyncio API, unchanged in shape::

    manager = StreamConnectionManager(gpu_id=None)
    await manager.initialize()                       # the provisioned YOLO model
    connection = await manager.connect_stream(url, stream_id="door",
                                              on_tracking_result=print)
    async for result in other_connection.tracking_results(): ...
    result = await third_connection.result_queue.get()
    stats = manager.get_stats()
    await manager.shutdown()

Decoding, batching, detection and tracking run in Rust with the GIL released; results are
small objects (the picture only with ``keep_frames=True``, as a NumPy array from
``result.frame()``). See docs/PYTHON.md.
"""

import asyncio as _asyncio
import atexit as _atexit

from . import _native
from ._native import (
    CallbackError,
    Detection,
    RtspWorkerError,
    StreamConnection,
    StreamError,
    TrackedObject,
    TrackingResult,
    __version__,
    default_model_path,
)

__all__ = [
    "CallbackError",
    "Detection",
    "QueueShutDown",
    "RtspWorkerError",
    "StreamConnection",
    "StreamConnectionManager",
    "StreamError",
    "TrackedObject",
    "TrackingResult",
    "__version__",
    "default_model_path",
]


class QueueShutDown(getattr(_asyncio, "QueueShutDown", Exception)):
    """``result_queue.get()`` after the stream ended and everything was taken
    (``asyncio.QueueShutDown`` on Python 3.13+)."""


# Managers not shut down yet. A manager runs until `shutdown()` even when the program drops
# it (its streams are threads of their own, as the seed's are tasks); the exit hook drains
# what is left, so that no engine thread is still detecting when the interpreter and the
# libraries it loaded are torn down.
_live = set()


class StreamConnectionManager(_native.StreamConnectionManager):
    __doc__ = _native.StreamConnectionManager.__doc__

    def __init__(self, *args, **kwargs):
        # The native constructor took the arguments.
        _live.add(self)

    async def shutdown(self):
        # Once started the shutdown runs to its end even if this await is cancelled; the
        # manager stays in `_live` until it has (a later call waits for the same shutdown).
        stats = await super().shutdown()
        _live.discard(self)
        return stats

    def shutdown_blocking(self):
        try:
            _asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "shutdown_blocking() on the event loop's thread would block the loop its "
                "async callbacks need: use `await manager.shutdown()`"
            )
        stats = super().shutdown_blocking()
        _live.discard(self)
        return stats


@_atexit.register
def _shutdown_all():
    """Managers still running when the interpreter exits are shut down (drained) first."""
    for manager in list(_live):
        try:
            manager.shutdown_blocking()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    # No engine thread may be inside Python when the interpreter finalizes.
    _native.quiesce(5.0)
