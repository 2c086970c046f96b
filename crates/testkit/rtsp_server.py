#!/usr/bin/python3
"""A loopback RTSP server for tests and the demo: GStreamer's RTSP server serving Annex B clips,
looping forever.

Run it under Debian's /usr/bin/python3 (it needs the `gi` bindings):

    rtsp_server.py [--port N] [--auth USER:PASS] [--protocols tcp|udp] [--shared] MOUNT=PATH [...]

MOUNT is a path like /h264; PATH an .h264 or .h265 Annex B file at 25 fps (or add @FPS:
/vtest=vtest.h264@10), an .mp4 (its own times, so B-frames keep their order; played once, the
codec taken from "h265" or "hevc" in its name), or `testsrc:jpeg` for an MJPEG test pattern (a codec rtsp-ingest
refuses). Port 0 (the default) picks a free port. When listening it prints
"READY <port>" on stdout. --auth puts every mount behind basic authentication.
--protocols offers only that transport (the other is refused with 461, as some cameras do).
--shared makes every client of a mount join its one running pipeline, as with a camera (by
default each client gets the clip from its start).

Raw Annex B carries no timestamps: the parser interpolates DTS from the frame rate in the caps,
and a pad probe copies DTS into PTS (the clips have no B-frames), which the payloader needs.
"""
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def pts_from_dts(_pad, info):
    buf = info.get_buffer()
    if buf is not None and buf.pts == Gst.CLOCK_TIME_NONE:
        buf.pts = buf.dts
    return Gst.PadProbeReturn.OK


def on_media_configure(_factory, media):
    parse = media.get_element().get_by_name("parse")
    if parse is not None:
        parse.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, pts_from_dts)


def factory_for(path, fps, protocols, shared=False):
    if path == "testsrc:jpeg":
        launch = (
            "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=5/1 "
            "! jpegenc ! rtpjpegpay name=pay0 pt=26 )"
        )
    elif path.endswith(".mp4"):
        # An MP4 keeps presentation times (B-frames); played once, not looped.
        codec = "h265" if "h265" in path or "hevc" in path else "h264"
        launch = (
            f"( filesrc location={path} ! qtdemux ! {codec}parse name=parse "
            f"! rtp{codec}pay name=pay0 pt=96 config-interval=-1 )"
        )
    else:
        codec = "h265" if path.endswith((".h265", ".hevc")) else "h264"
        launch = (
            f"( multifilesrc location={path} loop=true "
            f"caps=video/x-{codec},stream-format=byte-stream,framerate={fps}/1 "
            f"! {codec}parse name=parse ! rtp{codec}pay name=pay0 pt=96 config-interval=-1 )"
        )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    if protocols == "tcp":
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    elif protocols == "udp":
        factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP)
    # Shared: every client joins the one running pipeline, as with a camera; else each
    # client gets the clip from its start.
    factory.set_shared(shared)
    factory.connect("media-configure", on_media_configure)
    return factory


def main(argv):
    Gst.init(None)
    port, auth, protocols, mounts, shared = "0", None, None, [], False
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--port":
            port = args.pop(0)
        elif a == "--auth":
            auth = args.pop(0)
        elif a == "--protocols":
            protocols = args.pop(0)
        elif a == "--shared":
            shared = True
        else:
            mount, _, spec = a.partition("=")
            path, _, fps = spec.partition("@")
            mounts.append((mount, path, int(fps or "25")))
    if not mounts:
        print(__doc__, file=sys.stderr)
        return 2

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    points = server.get_mount_points()
    for mount, path, fps in mounts:
        factory = factory_for(path, fps, protocols, shared)
        if auth:
            factory.add_role_from_structure(
                Gst.Structure.from_string(
                    "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
                )[0]
            )
        points.add_factory(mount, factory)
    if auth:
        user, _, password = auth.partition(":")
        rtsp_auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        rtsp_auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(rtsp_auth)

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
