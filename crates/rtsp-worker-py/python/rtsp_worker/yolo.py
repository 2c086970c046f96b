"""The seed's ``services.yolo.YOLOv8Utils``, for code written against it.

The engine letterboxes frames and decodes YOLO outputs (v8 to v12 heads, NMS) in Rust; these
are markers that ``StreamConnectionManager.initialize(preprocess_fn=..., postprocess_fn=...)``
accepts and that mean "the built-in one". Any other function is refused with a clear error.
"""


def _builtin(fn):
    fn.__rtsp_worker_builtin__ = True
    return fn


class YOLOv8Utils:
    @staticmethod
    @_builtin
    def preprocess(*_args, **_kwargs):
        """Built in: letterbox to the model's input size (done in Rust)."""
        raise NotImplementedError("runs in Rust inside the engine; pass it to initialize()")

    @staticmethod
    @_builtin
    def postprocess(*_args, **_kwargs):
        """Built in: decode boxes, scores and classes, then NMS (done in Rust)."""
        raise NotImplementedError("runs in Rust inside the engine; pass it to initialize()")
