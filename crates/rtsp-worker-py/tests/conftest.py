"""Fixtures: the loopback RTSP server of rtsp-ingest's tests (GStreamer, real clips), the
provisioned model, and a way to run the seed's examples with what they print captured.

Run by `cargo xtask test` (or `cargo xtask pytest`) in the package's venv, with the
environment of `cargo xtask paths`.
"""
import asyncio
import importlib.util
import os
import pathlib
import subprocess
import sys
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SERVER = ROOT / "crates" / "testkit" / "rtsp_server.py"
EXAMPLES = ROOT / "crates" / "rtsp-worker-py" / "examples"
CLIPS = pathlib.Path(os.environ.get("RTSP_WORKER_CLIPS", pathlib.Path.home() / ".cache/rtsp-worker/clips"))
PASSWORD = "s3cr3t-Pw0rd"
# Every character a password may hold that a URL parser would take for something else.
SPECIAL_PASSWORD = "p/a?s#s@w:o%rd\u2603"


class Server:
    """A running rtsp_server.py (under Debian's python3, which has GStreamer's bindings)."""

    def __init__(self, mounts, auth=None):
        args = ["/usr/bin/python3", str(SERVER), "--port", "0"]
        if auth:
            args += ["--auth", auth]
        args += [f"{m}={CLIPS / clip}" for m, clip in mounts.items()]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = [""]
        reader = threading.Thread(target=lambda: line.__setitem__(0, self.proc.stdout.readline()))
        reader.start()
        reader.join(20)
        if not line[0].startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"the RTSP test server did not start: {line[0]!r}")
        self.port = int(line[0].split()[1])

    def url(self, mount, userinfo=""):
        return f"rtsp://{userinfo}127.0.0.1:{self.port}{mount}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="session")
def server():
    s = Server(
        {
            "/camera1": "people_720p25.h264",
            "/camera2": "vtest_720p25.h264",
            "/camera3": "boxes_720p25.h264",
            "/camera4": "h265_720p25.h265",
            "/camera": "people_720p25.h264",
        }
    )
    yield s
    s.stop()


@pytest.fixture(scope="session")
def private_server():
    s = Server({"/private": "people_720p25.h264"}, auth=f"alice:{PASSWORD}")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def special_server():
    s = Server({"/private": "people_720p25.h264"}, auth=f"alice:{SPECIAL_PASSWORD}")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def closed_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_example(name):
    """Imports examples/NAME.py as a fresh module."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Printed(list):
    """Stands in for `print` in an example module: keeps each line."""

    def __call__(self, *args, **_kwargs):
        self.append(" ".join(str(a) for a in args))


@pytest.fixture
def managers(monkeypatch):
    """Every StreamConnectionManager made during the test; those still running at its end are
    shut down (the seed's examples 2-4 run until stopped)."""
    import rtsp_worker

    made = []
    original = rtsp_worker.StreamConnectionManager

    class Recorded(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(rtsp_worker, "StreamConnectionManager", Recorded)
    yield made
    for m in made:
        m.shutdown_blocking()


def run_for(coro, seconds):
    """Runs `coro` on a new event loop for at most `seconds` (then cancels it)."""

    async def bounded():
        try:
            await asyncio.wait_for(coro, seconds)
        except asyncio.TimeoutError:
            pass

    asyncio.run(bounded())


def python():
    return sys.executable
