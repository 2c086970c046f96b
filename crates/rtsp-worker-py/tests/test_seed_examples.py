"""The seed's four user examples (examples/seed_example*.py), run on the engine against the
loopback server, each checked on what it received."""
import asyncio
import re

from conftest import Printed, load_example, run_for


def balanced(a):
    return a["received"] == a["results"] + sum(a["dropped"].values()) + a["in_pipeline"]


def test_example1_callbacks(server, managers):
    ex = load_example("seed_example1")
    ex.CAMERA_URL = server.url("/camera1")
    ex.RUN_SECONDS = 8
    ex.print = printed = Printed()
    asyncio.run(ex.main())

    streams = [line for line in printed if line.startswith("Stream: ")]
    assert len(streams) >= 10, printed[:20]
    assert set(streams) == {"Stream: camera1"}
    stamps = [float(line.split()[1]) for line in printed if line.startswith("Timestamp: ")]
    assert stamps == sorted(stamps) and stamps[0] > 1.6e9
    tracks = [line for line in printed if line.startswith(" - Track ID ")]
    assert tracks, "the people clip has people"
    assert all(re.match(r" - Track ID \d+: class=\d+, conf=[01]\.\d\d$", t) for t in tracks)
    assert not [line for line in printed if line.startswith("Error: ")]
    stats = [line for line in printed if line.startswith("Stats: ")]
    assert len(stats) == 1 and "'camera1'" in stats[0] and "'initialized': True" in stats[0]
    # The manager shut down in the example: its final accounting is exact.
    final = managers[0].get_stats()["connections"]
    assert final == {} or all(balanced(c["accounting"]) for c in final.values())


def test_example2_async_generators(server, managers):
    ex = load_example("seed_example2")
    ex.CAMERAS = [server.url(f"/camera{n}") for n in range(1, 5)]
    ex.print = printed = Printed()
    run_for(ex.main(), 12)  # the example runs until stopped

    frames = {}
    for line in printed:
        m = re.match(r"\[(.+)\] Frame (\d+): (\d+) objects$", line)
        if m:
            frames.setdefault(m.group(1), []).append(int(m.group(2)))
    assert set(frames) == {"Front Door", "Parking Lot", "Warehouse", "Loading Bay"}, printed[:10]
    for name, numbers in frames.items():
        assert len(numbers) >= 3, (name, numbers)
        assert numbers == sorted(set(numbers)), f"{name}: frames in order, each once"
    people = [line for line in printed if line.startswith(" Person detected! Track ID: ")]
    assert people, "the Front Door clip has people"
    stats = managers[0].get_stats()
    assert stats["manager"]["num_connections"] == 4
    assert stats["model_controller"]["detector"]["images"] >= sum(map(len, frames.values()))


def test_example3_queue(server, managers, monkeypatch):
    ex = load_example("seed_example3")
    ex.CAMERA_URL = server.url("/camera")
    received, stored, alerts = [], [], []

    async def send_to_kafka(result):
        received.append(result)

    async def save_to_database(result):
        stored.append(result.frame_number)

    async def send_alert(message):
        alerts.append(message)

    monkeypatch.setattr(ex, "send_to_kafka", send_to_kafka)
    monkeypatch.setattr(ex, "save_to_database", save_to_database)
    monkeypatch.setattr(ex, "send_alert", send_alert)
    run_for(ex.main(), 10)  # `while True`: runs until stopped

    assert len(received) >= 10
    assert stored == [r.frame_number for r in received] == sorted(set(stored))
    assert {r.stream_id for r in received} == {"main_camera"}
    with_people = [r for r in received if any(o.class_id == 0 for o in r.tracked_objects)]
    assert with_people and len(alerts) == len(with_people)
    assert set(alerts) == {"Person detected in restricted area!"}


def test_example4_async_callbacks(server, managers, monkeypatch):
    ex = load_example("seed_example4")
    ex.CAMERA_URL = server.url("/camera")
    ex.STATS_EVERY = 3
    ex.print = printed = Printed()
    saved = []
    real_save = ex.save_to_database

    async def save_to_database(result):
        await real_save(result)  # the seed's simulated 10 ms of I/O
        saved.append((asyncio.get_running_loop(), result.frame_number))

    monkeypatch.setattr(ex, "save_to_database", save_to_database)
    run_for(ex.main(), 10)  # `while True`: runs until stopped

    assert len(saved) >= 10
    numbers = [n for _, n in saved]
    assert numbers == sorted(set(numbers)), "one at a time, in order"
    loops = {id(loop) for loop, _ in saved}
    assert len(loops) == 1, "async callbacks run on the loop that connected the stream"
    notes = [line for line in printed if line.startswith("NOTIFICATION: High confidence person detection: ")]
    assert notes, "the people clip has confident people"
    assert not [line for line in printed if line.startswith("ERROR: ")]
    buffer = [line for line in printed if line.startswith("Buffer stats: ")]
    conns = [line for line in printed if line.startswith("Connection stats: ")]
    assert len(buffer) >= 2 and len(conns) >= 2
    assert "'detector'" in buffer[-1] and "'stream_0'" in conns[-1]
