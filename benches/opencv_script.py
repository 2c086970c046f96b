"""The peer on one machine: the Python script people write around OpenCV, onnxruntime and
ByteTrack, watching N cameras. Written by us, the way such scripts are usually written:

- one reader thread per camera: `cv2.VideoCapture(url)` (FFmpeg over TCP) reads every frame
  and keeps only the newest ("newest frame wins"), so every frame is decoded;
- one loop over the cameras in turn: the newest frame not yet processed is letterboxed to the
  model's input with `cv2.resize`, run through onnxruntime (all cores), decoded (YOLO output,
  `cv2.dnn.NMSBoxesBatched`) and given to that camera's `supervision.ByteTrack`.

Run by `cargo xtask bench script` beside our pipeline, on the same loopback server, clip and
model:

    python3 opencv_script.py --url URL --streams N --model MODEL.onnx [--warmup S] [--window S]
        [--threads T] --json OUT.json

Writes processed frames per second, each camera's count, the fair share (fewest / most), the
latency from a frame leaving its reader to its tracks (p50, p99, max), the process's CPU and
peak RSS, in the keys our e2e benchmark writes.
"""
import argparse
import json
import os
import resource
import threading
import time

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import supervision as sv  # noqa: E402


class Reader(threading.Thread):
    """Reads one camera and keeps its newest frame."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.lock = threading.Lock()
        self.frame = None
        self.at = 0.0
        self.seq = 0
        self.running = True
        self.connected = threading.Event()

    def run(self):
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG)
        while self.running:
            ok, frame = cap.read()
            if not ok:
                time.sleep(0.05)
                continue
            self.connected.set()
            with self.lock:
                self.frame, self.at, self.seq = frame, time.perf_counter(), self.seq + 1
        cap.release()

    def newest(self):
        with self.lock:
            return self.frame, self.at, self.seq


def letterbox(frame, width, height):
    h, w = frame.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((height, width, 3), 114, np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    canvas[top:top + nh, left:left + nw] = resized
    blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return blob, scale, left, top


def detections(output, scale, left, top, conf=0.25, iou=0.45):
    pred = output[0].T  # anchors x (4 + classes)
    scores = pred[:, 4:]
    cls = scores.argmax(1)
    best = scores[np.arange(len(cls)), cls]
    keep = best >= conf
    if not keep.any():
        return sv.Detections.empty()
    boxes, best, cls = pred[keep, :4], best[keep], cls[keep]
    xyxy = np.stack([boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2,
                     boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2], 1)
    xywh = np.stack([xyxy[:, 0], xyxy[:, 1], boxes[:, 2], boxes[:, 3]], 1)
    idx = cv2.dnn.NMSBoxesBatched(xywh.tolist(), best.tolist(), cls.tolist(), conf, iou)
    idx = np.array(idx, dtype=int).reshape(-1)
    xyxy = (xyxy[idx] - [left, top, left, top]) / scale
    return sv.Detections(xyxy=xyxy.astype(np.float32), confidence=best[idx], class_id=cls[idx])


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--streams", type=int, default=1)
    p.add_argument("--model", required=True)
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--json", required=True)
    a = p.parse_args()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    session = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    _, _, height, width = session.get_inputs()[0].shape
    readers = [Reader(a.url) for _ in range(a.streams)]
    for r in readers:
        r.start()
    for r in readers:
        r.connected.wait(30)
    trackers = [sv.ByteTrack(frame_rate=25) for _ in readers]
    done = [0] * len(readers)
    counts = [0] * len(readers)
    latencies = []
    warm_end = time.perf_counter() + a.warmup
    window_end = warm_end + a.window
    cpu0, t0 = None, None
    i = 0
    while time.perf_counter() < window_end:
        now = time.perf_counter()
        if cpu0 is None and now >= warm_end:
            cpu0, t0 = cpu_seconds(), now
        r = readers[i % len(readers)]
        k = i % len(readers)
        i += 1
        frame, at, seq = r.newest()
        if frame is None or seq == done[k]:
            if all(rd.newest()[2] == done[j] for j, rd in enumerate(readers)):
                time.sleep(0.002)
            continue
        done[k] = seq
        blob, scale, left, top = letterbox(frame, width, height)
        out = session.run(None, {name: blob})[0]
        trackers[k].update_with_detections(detections(out, scale, left, top))
        end = time.perf_counter()
        if end >= warm_end:
            counts[k] += 1
            latencies.append((end - at) * 1e3)
    secs = time.perf_counter() - t0
    cpu = (cpu_seconds() - cpu0) / secs * 100.0
    for r in readers:
        r.running = False
    latencies.sort()

    def pct(q):
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    result = {
        "kind": "opencv_script",
        "streams": a.streams,
        "processed_per_s": round(sum(counts) / secs, 2),
        "per_stream": counts,
        "fair_share": round(min(counts) / max(max(counts), 1), 2),
        "latency_ms_p50": round(pct(0.5)),
        "latency_ms_p99": round(pct(0.99)),
        "latency_ms_max": round(latencies[-1]) if latencies else 0,
        "cpu_percent": round(cpu),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "model_input": [width, height],
        "versions": {"opencv": cv2.__version__, "onnxruntime": ort.__version__,
                     "supervision": sv.__version__},
    }
    with open(a.json, "w") as f:
        json.dump(result, f)
    print(json.dumps(result), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
