"""The seed's Example 2: async generator pattern (multiple streams).

Adapted from ../shared/seed/EVENT_DRIVEN_DESIGN.md only where the seed calls what does not
exist here: the imports, the model (the provisioned ONNX model), the camera URLs (CAMERAS:
four comma-separated URLs, default a local server) and gpu_id (None: CPU build).
"""
import asyncio
import os

from rtsp_worker import StreamConnectionManager
from rtsp_worker.yolo import YOLOv8Utils

MODEL_PATH = os.environ.get("RTSP_WORKER_MODEL")  # None: the provisioned default
CAMERAS = os.environ.get(
    "CAMERAS",
    ",".join(f"rtsp://127.0.0.1:8554/camera{n}" for n in range(1, 5)),
).split(",")


async def process_stream(connection, stream_name):
    """Process results from a single stream"""
    async for result in connection.tracking_results():
        print(f"[{stream_name}] Frame {result.metadata['frame_number']}: {len(result.tracked_objects)} objects")
        # Do something with tracked objects
        for obj in result.tracked_objects:
            if obj.class_id == 0:  # Person class
                print(f" Person detected! Track ID: {obj.track_id}, Conf: {obj.confidence:.2f}")


async def main():
    manager = StreamConnectionManager(
        gpu_id=None,
        batch_size=32,  # Larger batch for multiple streams
        force_timeout=0.05,
    )
    await manager.initialize(
        model_path=MODEL_PATH,
        preprocess_fn=YOLOv8Utils.preprocess,
        postprocess_fn=YOLOv8Utils.postprocess,
    )
    # Connect to multiple streams
    camera_urls = [
        (CAMERAS[0], "Front Door"),
        (CAMERAS[1], "Parking Lot"),
        (CAMERAS[2], "Warehouse"),
        (CAMERAS[3], "Loading Bay"),
    ]
    tasks = []
    for url, name in camera_urls:
        connection = await manager.connect_stream(
            rtsp_url=url,
            stream_id=name.lower().replace(" ", "_"),
        )
        # Create task to process this stream
        task = asyncio.create_task(process_stream(connection, name))
        tasks.append(task)
    # Run all streams concurrently
    try:
        await asyncio.gather(*tasks)
    except KeyboardInterrupt:
        print("Shutting down...")
    await manager.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
