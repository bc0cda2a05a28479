"""Property-based tests for the text a user types or a file holds: line and zone specs, counters files,
source specs, pixel limits and bitrates, batch list files. Each is either accepted (and then runs: the
counters resolve on a real frame size, the source opens) or refused with one line, a ValueError that
the command line prints as ``lookout: error: ...`` with exit 2; never another exception (a traceback),
and never a password in the message."""
from __future__ import annotations

import json
import socket
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import DEMO_CLIP

from detector.cli.run_cmd import build_parser, config_from
from detector.engine.run import make_analytics

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])
SIZE = (768, 576)  # vtest.avi's frame size: counters resolve against it

number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                   st.sampled_from(["0", "1", "0.5", "-0", "1e309", "nan", "inf", "", " ", "0x10", "1,5"]))
name = st.one_of(st.text(min_size=0, max_size=12), st.sampled_from(["door", "a=b", "", " ", "é", "x,y"]))


@st.composite
def counter_spec(draw):
    nums = draw(st.lists(number, min_size=0, max_size=9))
    sep = draw(st.sampled_from(["=", "", "==", ":"]))
    return f"{draw(name)}{sep}{','.join(str(n) for n in nums)}"


def config_or_refusal(argv: list[str]):
    """The command line's own parse-and-validate step: a RunConfig, or None after a one-line refusal."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse's own refusal: usage + one error line, exit 2
        assert e.code == 2
        return None
    try:
        return config_from(args, guard=False)
    except ValueError as e:
        assert str(e) and "\n" not in str(e), repr(str(e))
        return None


@FAST
@given(lines=st.lists(counter_spec(), max_size=3), zones=st.lists(counter_spec(), max_size=3))
def test_line_and_zone_specs(lines, zones):
    argv = ["--source", str(DEMO_CLIP), "--headless"]
    for spec in lines:
        argv += [f"--line={spec}"]
    for spec in zones:
        argv += [f"--zone={spec}"]
    config = config_or_refusal(argv)
    if config is None or not config.counters:
        return
    analytics = make_analytics(config)
    try:
        analytics.start(SIZE)  # what a run does with the first frame's size
    except ValueError as e:
        assert "\n" not in str(e)


json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.integers(), st.text(max_size=6)),
                          lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                  st.dictionaries(st.sampled_from(["name", "points", "lines", "zones", "x"]),
                                                                  inner, max_size=3)), max_leaves=12)


@st.composite
def counters_document(draw):
    """Valid-looking files with wrong parts swapped in, plain JSON noise, and bytes that are not JSON."""
    kind = draw(st.sampled_from(["shaped", "noise", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "noise":
        return json.dumps(draw(json_value)).encode()
    point = st.one_of(st.lists(st.one_of(st.floats(-2, 800, allow_nan=False), st.text(max_size=2), st.none()),
                               min_size=0, max_size=3), json_value)
    item = st.fixed_dictionaries({"name": st.one_of(name, st.integers(), st.none()),
                                  "points": st.one_of(st.lists(point, max_size=5), json_value)})
    doc = {"lines": draw(st.lists(item, max_size=2)), "zones": draw(st.lists(item, max_size=2))}
    return json.dumps(doc).encode()


@FAST
@given(data=counters_document())
def test_counters_files(tmp_path, data):
    path = tmp_path / "counters.json"
    path.write_bytes(data)
    config = config_or_refusal(["--source", str(DEMO_CLIP), "--headless", "--counters", str(path)])
    if config is None or not config.counters:
        return
    try:
        make_analytics(config).start(SIZE)
    except ValueError as e:
        assert "\n" not in str(e)


@FAST
@given(pixels=st.one_of(st.text(max_size=8), st.sampled_from(["50M", "0", "-1", "1e3", "0.2M", "M", "nanM", "infM"])),
       bitrate=st.one_of(st.text(max_size=8), st.sampled_from(["4M", "800k", "k", "-4M", "nan", "1e99"])))
def test_pixel_limits_and_bitrates(pixels, bitrate):
    config_or_refusal(["--source", str(DEMO_CLIP), f"--max-pixels={pixels}", f"--bitrate={bitrate}"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# "Pw9" never occurs in the lower-case paths drawn beside it, so a password found in a message leaked
secret = st.text(alphabet=string.ascii_letters + string.digits + "!$%&*+-._~", min_size=1, max_size=12).map(lambda t: "Pw9" + t)


@st.composite
def source_spec(draw, folder):
    """Paths that exist or not (odd names, globs, folders), camera indexes, and stream URLs to a closed
    port on loopback carrying a password (no traffic leaves this machine)."""
    kind = draw(st.sampled_from(["text", "path", "glob", "camera", "url"]))
    if kind == "text":
        spec = draw(st.text(max_size=20))
        assume(not spec.strip().lower().startswith(("rtsp", "http", "rtmp", "udp", "tcp")))
        return spec, None
    if kind == "path":
        return str(folder / draw(st.sampled_from(["clip.mp4", "notes.mp4", "empty.jpg", "a=b.mp4", "missing.avi",
                                                   "sub", "photo.png"]))), None
    if kind == "glob":
        return str(folder / draw(st.sampled_from(["*.png", "*.nothing", "[", "**/*.jpg", "?"]))), None
    if kind == "camera":
        return str(draw(st.integers(10, 99))), None
    password = draw(secret)
    scheme = draw(st.sampled_from(["rtsp", "http", "rtmp"]))
    path = draw(st.text(alphabet=string.ascii_lowercase + "/_-", max_size=10))
    return f"{scheme}://user:{password}@127.0.0.1:{_closed_port()}/{path}", password


@pytest.fixture(scope="module")
def source_folder(tmp_path_factory):
    import shutil
    import cv2
    from conftest import read_frame
    d = tmp_path_factory.mktemp("sources")
    shutil.copy(DEMO_CLIP, d / "clip.mp4")
    shutil.copy(DEMO_CLIP, d / "a=b.mp4")
    (d / "notes.mp4").write_text("not a video\n")
    (d / "empty.jpg").write_bytes(b"")
    (d / "sub").mkdir()
    cv2.imwrite(str(d / "photo.png"), read_frame(DEMO_CLIP, 0))
    return d


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_source_specs(source_folder, data):
    from detector.io.sources import SourceOptions, open_source
    spec, password = data.draw(source_spec(source_folder))
    config = config_or_refusal(["--source", spec, "--headless", "--open-timeout", "0.5"])
    if config is None:
        return
    try:
        source = open_source(spec, SourceOptions(open_timeout_s=0.5))
    except ValueError as e:  # SourceError
        assert "\n" not in str(e)
        assert password is None or password not in str(e), str(e)
        return
    try:
        assert password is None or password not in source.description
        frame = source.read()
        assert frame is None or frame.image.ndim == 3
    finally:
        source.close()


@FAST
@given(lines=st.lists(st.one_of(st.text(max_size=16), st.sampled_from(["# comment", "clip.mp4", "missing.mp4", "sub",
                                                                        "*.png", "../", "", " "])), max_size=6))
def test_batch_list_files(source_folder, lines):
    from detector.batch.inputs import expand
    listing = source_folder / "sub" / "list.txt"
    listing.write_text("\n".join(lines), errors="surrogateescape")
    for inp in expand([str(listing)]):
        assert inp.name and "/" not in inp.name
        assert inp.problem is None or "\n" not in inp.problem


@FAST
@given(user=st.text(alphabet=string.ascii_lowercase + "@.:-", max_size=10), password=secret,
       host=st.sampled_from(["127.0.0.1:554", "cam.local", "[::1]:8554"]), path=st.text(alphabet="abc/", max_size=6))
def test_a_password_never_shows_whatever_the_user_name_holds(user, password, host, path):
    from detector.io.sources import mask_url
    url = f"rtsp://{user.replace(':', '')}:{password}@{host}/{path}"
    shown = mask_url(f"cannot open {url}; retrying {url}")
    assert password not in shown and shown.count(":***@") == 2, shown
