"""The Python trackers people reach for, on the detections `cargo xtask track-eval` generates.

Run by xtask under each family's own venv, once for every detection file and stride:

    peers.py FAMILY JOBS.tsv OUTDIR

where each line of JOBS.tsv is `DETECTIONS TAG STRIDE PHASE FPS LAST SEQ NOISE LEVEL`.

FAMILY is `supervision` (ByteTrack, 0.29.x), `trackers` (Roboflow's ByteTrack, SORT,
OC-SORT) or `norfair` (IoU distance, with the settings of its MOTChallenge demo). Each tracker
runs with its stock settings, its frame rate the sequence's divided by the stride. It is fed
the frames a detector running every S-th frame sees (from frame 1 + PHASE), numbered consecutively (how its users
call it); its tracks are written back under the camera frame numbers, one MOTChallenge file
per tracker (OUTDIR/<tracker>_<TAG>.txt). Prints
"<tracker>\t<file>\t<seq>\t<noise>\t<level>\t<stride>\t<phase>" per file written.
"""
import argparse
import collections
import os

import numpy as np


def load(path):
    frames = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            v = line.strip().split(",")
            if len(v) < 7:
                continue
            x, y, w, h, s = (float(t) for t in v[2:7])
            frames[int(float(v[0]))].append((x, y, x + w, y + h, s))
    return frames


def sv_detections(sv, dets):
    if not dets:
        return sv.Detections.empty()
    a = np.array(dets, dtype=np.float32)
    return sv.Detections(
        xyxy=a[:, :4], confidence=a[:, 4], class_id=np.zeros(len(a), dtype=int)
    )


def write(out, frame, tid, box):
    x1, y1, x2, y2 = (float(t) for t in box)
    out.append(f"{frame},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,-1,-1,-1")


def run_supervision(fed, frames, fps):
    import supervision as sv

    tracker = sv.ByteTrack(frame_rate=max(1, round(fps)))
    out = []
    for frame in fed:
        res = tracker.update_with_detections(sv_detections(sv, frames.get(frame, [])))
        for box, tid in zip(res.xyxy, res.tracker_id):
            if tid is not None and tid >= 0:
                write(out, frame, tid, box)
    return {"supervision-bytetrack": out}


def run_trackers(fed, frames, fps):
    import supervision as sv
    import trackers

    made = {
        "trackers-bytetrack": trackers.ByteTrackTracker(frame_rate=fps),
        "trackers-sort": trackers.SORTTracker(frame_rate=fps),
        "trackers-ocsort": trackers.OCSORTTracker(frame_rate=fps),
    }
    outs = {}
    for name, tracker in made.items():
        out = []
        for frame in fed:
            res = tracker.update(sv_detections(sv, frames.get(frame, [])))
            if res.tracker_id is None:
                continue
            for box, tid in zip(res.xyxy, res.tracker_id):
                if tid >= 0:
                    write(out, frame, tid, box)
        outs[name] = out
    return outs


def run_norfair(fed, frames, fps):
    from norfair import Detection, Tracker
    from norfair.filter import FilterPyKalmanFilterFactory

    # As norfair's demos/motmetrics4norfair (without camera motion: no frames here).
    tracker = Tracker(
        distance_function="iou",
        distance_threshold=0.9,
        detection_threshold=0.5,
        pointwise_hit_counter_max=3,
        hit_counter_max=8,
        filter_factory=FilterPyKalmanFilterFactory(),
    )
    out = []
    for frame in fed:
        dets = [
            Detection(points=np.array([[x1, y1], [x2, y2]]), scores=np.array([s, s]))
            for x1, y1, x2, y2, s in frames.get(frame, [])
        ]
        for obj in tracker.update(detections=dets):
            write(out, frame, obj.id, obj.estimate.reshape(-1))
    return {"norfair-iou": out}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("family")
    p.add_argument("jobs")
    p.add_argument("outdir")
    a = p.parse_args()
    run = {"supervision": run_supervision, "trackers": run_trackers, "norfair": run_norfair}
    with open(a.jobs) as f:
        jobs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for det, tag, stride, phase, fps, last, seq, noise, level in jobs:
        stride, phase, last = int(stride), int(phase), int(last)
        frames = load(det)
        fed = [f for f in range(1, last + 1) if (f - 1) % stride == phase]
        for name, lines in run[a.family](fed, frames, float(fps) / stride).items():
            path = os.path.join(a.outdir, f"{name}_{tag}.txt")
            with open(path, "w") as out:
                out.write("\n".join(lines) + ("\n" if lines else ""))
            print(f"{name}\t{path}\t{seq}\t{noise}\t{level}\t{stride}\t{phase}")


if __name__ == "__main__":
    main()
