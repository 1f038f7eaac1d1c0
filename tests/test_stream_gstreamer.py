"""Optional: an RTSP camera we pull from, played by GStreamer's RTSP server (Debian packages
python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good and -bad). Skipped where they are
not installed; the PyAV tests (test_stream_sources.py) cover RTSP in listen mode everywhere."""
from __future__ import annotations

import subprocess
import textwrap

import pytest

from catsplit.runtime.stream import Retry, Source, StreamOptions, StreamRunner
from catsplit.scale.processes import free_port
from tests.stream_media import STRIDE, WINDOW, collect, same_windows, windows

SYSTEM_PYTHON = "/usr/bin/python3"  # where Debian's GObject bindings live
SERVER = textwrap.dedent("""
    import sys
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
    Gst.init(None)
    port, path = sys.argv[1], sys.argv[2]
    missing = [e for e in ("qtdemux", "h264parse", "rtph264pay") if Gst.ElementFactory.find(e) is None]
    if missing:
        sys.exit("missing GStreamer elements: " + " ".join(missing))
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( filesrc location={path} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 "
                       "config-interval=1 )")
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()
""")


def _gstreamer_rtsp() -> bool:
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "assert all(Gst.ElementFactory.find(e) for e in ('qtdemux', 'h264parse', 'rtph264pay'))")
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _gstreamer_rtsp(), reason="GStreamer's RTSP server (Debian packages) is not installed")
def test_pull_from_a_gstreamer_rtsp_camera(runtime_a, clip64):
    reference = windows(collect(StreamRunner(runtime_a, [Source("f", str(clip64))],
                                             StreamOptions(window=WINDOW, stride=STRIDE))))
    port = free_port()
    server = subprocess.Popen([SYSTEM_PYTHON, "-c", SERVER, str(port), str(clip64)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready", server.stderr.read()
        options = StreamOptions(window=WINDOW, stride=STRIDE, max_pending=64,
                                retry=Retry(retries=2, base=0.1, timeout=5.0))
        runner = StreamRunner(runtime_a, [Source("cam", f"rtsp://127.0.0.1:{port}/cam")], options)
        docs = collect(runner, lambda d: len(windows(d)) == len(reference))  # the server plays it in real time
    finally:
        server.kill()
        server.wait()
    same_windows(windows(docs)[:len(reference)], reference)
