"""The seed's Example 3: queue-based pattern (for integration with other systems).

Adapted from ../shared/seed/EVENT_DRIVEN_DESIGN.md only where the seed calls what does not
exist here: the imports, the model (the provisioned ONNX model), the camera URL and gpu_id
(None: CPU build). send_to_kafka and save_to_database stay the seed's placeholders.
"""
import asyncio
import os

from rtsp_worker import StreamConnectionManager
from rtsp_worker.yolo import YOLOv8Utils

MODEL_PATH = os.environ.get("RTSP_WORKER_MODEL")  # None: the provisioned default
CAMERA_URL = os.environ.get("CAMERA_URL", "rtsp://127.0.0.1:8554/camera")


async def main():
    manager = StreamConnectionManager(gpu_id=None, batch_size=16)
    await manager.initialize(
        model_path=MODEL_PATH,
        preprocess_fn=YOLOv8Utils.preprocess,
        postprocess_fn=YOLOv8Utils.postprocess,
    )
    # Connect to stream (no callback)
    connection = await manager.connect_stream(
        rtsp_url=CAMERA_URL,
        stream_id="main_camera",
    )
    # Use the built-in queue
    result_queue = connection.result_queue
    # Process results from queue
    while True:
        result = await result_queue.get()
        # Send to external system (e.g., message queue, database, API)
        await send_to_kafka(result)
        await save_to_database(result)
        # Or do real-time processing
        if has_person_alert(result.tracked_objects):
            await send_alert("Person detected in restricted area!")


async def send_to_kafka(result):
    # Your Kafka producer code
    pass


async def save_to_database(result):
    # Your database code
    pass


def has_person_alert(tracked_objects):
    # Your alert logic
    return any(obj.class_id == 0 for obj in tracked_objects)


async def send_alert(message):
    print(f"ALERT: {message}")


if __name__ == "__main__":
    asyncio.run(main())
