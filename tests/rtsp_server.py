"""A real RTSP server on the loopback address for the stream tests: GStreamer's gst-rtsp-server.

Run with the system Python, which has PyGObject (Debian: python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-{good,bad,ugly}):

    /usr/bin/python3 tests/rtsp_server.py PORT MOUNT CLIP.mp4 [USER PASSWORD]

serves CLIP (an H.264 .mp4, sent as it is, no re-encoding) at rtsp://127.0.0.1:PORT/MOUNT in real
time, each client from the start, behind basic authentication when USER is given (with
LOOKOUT_RTSP_SHARED=1 in the environment, one shared stream instead: a client that comes later
joins it where it is, mid-GOP as a camera's viewer does). Prints "ready" once listening; runs until killed.
"""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, mount, clip = sys.argv[1], sys.argv[2].strip("/"), sys.argv[3]
    user, password = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_shared(os.environ.get("LOOKOUT_RTSP_SHARED") == "1")
    factory.set_launch(f'( filesrc location="{clip}" ! qtdemux ! h264parse ! '
                       f'rtph264pay name=pay0 pt=96 config-interval=1 )')
    if user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", user)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(user, "media.factory.access", True)
        permissions.add_permission_for_role(user, "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/" + mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
