"""Type stubs for the native module (what `rtsp_worker` re-exports). See docs/PYTHON.md."""
import datetime
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, Union

import numpy

__version__: str
default_model_path: str

class RtspWorkerError(Exception):
    kind: str

class StreamError(RtspWorkerError):
    stream_id: str
    event: str  # "reconnecting", "stalled" or "ended"
    attempt: Optional[int]

class CallbackError(RtspWorkerError):
    stream_id: str
    event: str  # "callback"

class TrackedObject:
    track_id: int
    class_id: int
    class_name: str
    confidence: float
    bbox: tuple[float, float, float, float]
    velocity: tuple[float, float]
    state: str  # "confirmed", "lost"; "ended" in ended_tracks
    age: int
    hits: int
    zones: list[str]

class Detection:
    class_id: int
    class_name: str
    confidence: float
    bbox: tuple[float, float, float, float]

class TrackingResult:
    @property
    def stream_id(self) -> str: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def frame_number(self) -> int: ...
    @property
    def tracked_objects(self) -> list[TrackedObject]: ...
    @property
    def ended_tracks(self) -> list[TrackedObject]: ...
    @property
    def detections(self) -> list[Detection]: ...
    @property
    def frame_shape(self) -> tuple[int, int, int]: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def wall_clock(self) -> datetime.datetime: ...
    @property
    def wall_clock_synced(self) -> bool: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def accounting(self) -> dict[str, Any]: ...
    @property
    def zones(self) -> dict[str, Any]: ...
    def frame(self, annotated: bool = False) -> Optional[numpy.ndarray]: ...
    def to_dict(self) -> dict[str, Any]: ...

class ResultIterator:
    def __aiter__(self) -> "ResultIterator": ...
    def __anext__(self) -> Awaitable[TrackingResult]: ...

class EventIterator:
    def __aiter__(self) -> "EventIterator": ...
    def __anext__(self) -> Awaitable[Union[TrackingResult, dict[str, Any]]]: ...

class ResultQueue:
    def get(self) -> Awaitable[TrackingResult]: ...
    def get_nowait(self) -> TrackingResult: ...
    def qsize(self) -> int: ...
    def empty(self) -> bool: ...
    def full(self) -> bool: ...
    def __aiter__(self) -> "ResultQueue": ...
    def __anext__(self) -> Awaitable[TrackingResult]: ...

class StreamConnection:
    @property
    def stream_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def result_queue(self) -> ResultQueue: ...
    def get_stats(self) -> dict[str, Any]: ...
    def tracking_results(self) -> ResultIterator: ...
    def events(self) -> EventIterator: ...
    def wait_connected(self, timeout: float = 10.0) -> Awaitable[None]: ...
    def snapshot(self) -> Optional[bytes]: ...

Callback = Callable[[Any], Union[None, Awaitable[None]]]

class StreamConnectionManager:
    def __init__(
        self,
        gpu_id: Optional[int] = None,
        batch_size: Optional[int] = None,
        force_timeout: Optional[float] = None,
        poll_interval: Optional[float] = None,
        *,
        confidence: Optional[float] = None,
        result_queue: Optional[int] = None,
        max_streams: Optional[int] = None,
        intra_op_threads: Optional[int] = None,
        batches_in_flight: Optional[int] = None,
        snapshot_interval: Optional[float] = None,
        adaptive_decoding: bool = False,
        wide_input: bool = False,
    ) -> None: ...
    def initialize(
        self,
        model_path: Optional[str] = None,
        model_id: Optional[str] = None,
        preprocess_fn: Optional[Callable[..., Any]] = None,
        postprocess_fn: Optional[Callable[..., Any]] = None,
    ) -> Awaitable[None]: ...
    def connect_stream(
        self,
        rtsp_url: str,
        stream_id: Optional[str] = None,
        on_tracking_result: Optional[Callback] = None,
        on_error: Optional[Callback] = None,
        *,
        on_event: Optional[Callback] = None,
        username: Optional[str] = None,
        password: Optional[str] = None,
        transport: Optional[str] = None,
        keep_frames: bool = False,
        result_queue: Optional[int] = None,
        stall_timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        give_up_after: Optional[int] = None,
        detect_fps: Optional[float] = None,
    ) -> Awaitable[StreamConnection]: ...
    def disconnect_stream(self, stream_id: str) -> Awaitable[dict[str, Any]]: ...
    def disconnect_all(self) -> Awaitable[None]: ...
    def shutdown(self) -> Awaitable[dict[str, Any]]: ...
    def shutdown_blocking(self) -> dict[str, Any]: ...
    def get_stats(self) -> dict[str, Any]: ...
    @property
    def connections(self) -> dict[str, StreamConnection]: ...
    @property
    def class_names(self) -> list[str]: ...
    @property
    def initialized(self) -> bool: ...

def quiesce(timeout: float) -> int: ...
def delivery_cpu_seconds() -> float: ...
