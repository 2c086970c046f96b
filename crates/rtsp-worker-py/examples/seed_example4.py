"""The seed's Example 4: async callback with error handling.

Adapted from ../shared/seed/EVENT_DRIVEN_DESIGN.md only where the seed calls what does not
exist here: the imports, the model (the provisioned ONNX model), the camera URL, gpu_id
(None: CPU build) and the stats period (STATS_EVERY, default 10 s as in the seed).
"""
import asyncio
import os

from rtsp_worker import StreamConnectionManager
from rtsp_worker.yolo import YOLOv8Utils

MODEL_PATH = os.environ.get("RTSP_WORKER_MODEL")  # None: the provisioned default
CAMERA_URL = os.environ.get("CAMERA_URL", "rtsp://127.0.0.1:8554/camera")
STATS_EVERY = float(os.environ.get("STATS_EVERY", "10"))


async def main():
    manager = StreamConnectionManager(gpu_id=None, batch_size=16)
    await manager.initialize(
        model_path=MODEL_PATH,
        preprocess_fn=YOLOv8Utils.preprocess,
        postprocess_fn=YOLOv8Utils.postprocess,
    )

    # Async callback (can do I/O operations)
    async def on_tracking_result(result):
        # Can use async operations in callback
        await save_to_database(result)
        # Check for alerts
        for obj in result.tracked_objects:
            if obj.class_id == 0 and obj.confidence > 0.8:
                await send_notification(f"High confidence person detection: {obj.track_id}")

    async def on_error(error):
        await log_error_to_monitoring_system(error)

    # Connect with async callbacks
    connection = await manager.connect_stream(
        rtsp_url=CAMERA_URL,
        on_tracking_result=on_tracking_result,
        on_error=on_error,
    )
    # Monitor stats periodically
    while True:
        await asyncio.sleep(STATS_EVERY)
        stats = manager.get_stats()
        print(f"Buffer stats: {stats['model_controller']}")
        print(f"Connection stats: {stats['connections']}")


async def save_to_database(result):
    # Simulate async database operation
    await asyncio.sleep(0.01)


async def send_notification(message):
    print(f"NOTIFICATION: {message}")


async def log_error_to_monitoring_system(error):
    print(f"ERROR: {error}")


if __name__ == "__main__":
    asyncio.run(main())
