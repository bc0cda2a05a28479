"""Property tests for what a user types for events: --mqtt URLs, --webhook URLs, --min-area,
--count-above, lookout events --since, stream names. Accepted, or refused with one ValueError line
(argparse's error for --since); never another exception, never the password in the message."""
from __future__ import annotations

import argparse

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.cli.events_cmd import since_seconds
from detector.events.settings import (check_webhook, parse_area, parse_count_above, parse_mqtt, safe_name,
                                      stream_name)

FAST = settings(max_examples=150, deadline=None)
SECRET = "Zq9-secret"
text = st.text(max_size=40)
host = st.one_of(st.sampled_from(["127.0.0.1", "broker.local", "[::1]", "", ":", "@", "h:99999", "h:-1", "h:x"]), text)


@FAST
@given(st.sampled_from(["mqtt", "mqtts", "http", "", "MQTT", "tcp"]), st.sampled_from(["", "user", "u@v"]), host,
       st.one_of(st.sampled_from(["", "/", "/lookout", "/a/b", "/#", "/+/x", "?q=1"]), text))
def test_mqtt_urls_are_parsed_or_refused_in_one_line_without_the_password(scheme, user, where, path):
    url = f"{scheme}://{user}:{SECRET}@{where}{path}" if user else f"{scheme}://{where}{path}"
    try:
        t = parse_mqtt(url)
    except ValueError as e:
        assert SECRET not in str(e) and "\n" not in str(e)
        return
    assert t.host and 0 < t.port < 65536 and t.prefix and "#" not in t.prefix and "+" not in t.prefix
    assert SECRET not in t.masked and SECRET not in repr(t)


@FAST
@given(st.one_of(text, st.builds(lambda s, h: f"{s}://u:{SECRET}@{h}/x", st.sampled_from(["http", "https", "ftp", ""]), host)))
def test_webhook_urls(url):
    try:
        assert check_webhook(url) == url
    except ValueError as e:
        assert SECRET not in str(e)


@FAST
@given(st.one_of(text, st.builds(lambda l, v: f"{l}={v}", text, st.one_of(st.floats(), st.integers(), text))))
def test_area_and_count_specs(spec):
    for parse in (lambda s: parse_area("--min-area", s), parse_count_above):
        try:
            parse(spec)
        except ValueError as e:
            assert "\n" not in str(e)


@FAST
@given(text)
def test_since_and_stream_names(s):
    try:
        assert since_seconds(s) >= 0
    except argparse.ArgumentTypeError:
        pass
    for name in (safe_name(s), stream_name(s)):
        assert name and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
