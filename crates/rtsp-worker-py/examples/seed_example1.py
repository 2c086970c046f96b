"""The seed's Example 1: simple callback pattern.

Adapted from ../shared/seed/EVENT_DRIVEN_DESIGN.md only where the seed calls what does not
exist here: the imports (rtsp_worker instead of `services`), the model (the provisioned ONNX
model instead of models/yolov8n.trt), the camera URL, gpu_id (None: this build runs on the
CPU; 0 needs a build with the GPU features) and how long it runs (RUN_SECONDS, default 60 as
in the seed).
"""
import asyncio
import os

from rtsp_worker import StreamConnectionManager
from rtsp_worker.yolo import YOLOv8Utils

MODEL_PATH = os.environ.get("RTSP_WORKER_MODEL")  # None: the provisioned default
CAMERA_URL = os.environ.get("CAMERA_URL", "rtsp://127.0.0.1:8554/camera1")
RUN_SECONDS = float(os.environ.get("RUN_SECONDS", "60"))


async def main():
    # Create manager
    manager = StreamConnectionManager(
        gpu_id=None,
        batch_size=16,
        force_timeout=0.05,  # 50ms
    )
    # Initialize with model
    await manager.initialize(
        model_path=MODEL_PATH,
        model_id="yolo",
        preprocess_fn=YOLOv8Utils.preprocess,
        postprocess_fn=YOLOv8Utils.postprocess,
    )

    # Define callback for tracking results
    def on_tracking_result(result):
        print(f"Stream: {result.stream_id}")
        print(f"Timestamp: {result.timestamp}")
        print(f"Tracked objects: {len(result.tracked_objects)}")
        for obj in result.tracked_objects:
            print(f" - Track ID {obj.track_id}: class={obj.class_id}, conf={obj.confidence:.2f}")

    def on_error(error):
        print(f"Error: {error}")

    # Connect to stream
    connection = await manager.connect_stream(
        rtsp_url=CAMERA_URL,
        stream_id="camera1",
        on_tracking_result=on_tracking_result,
        on_error=on_error,
    )
    # Let it run for 60 seconds
    await asyncio.sleep(RUN_SECONDS)
    # Get statistics
    stats = manager.get_stats()
    print(f"Stats: {stats}")
    # Cleanup
    await manager.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
