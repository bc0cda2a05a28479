"""``lookout batch``: many inputs in-process and on Ray (a local instance, and two raylets on loopback
with Ray's own multi-node test utility), each input's JSONL byte for byte the single-source CLI's."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import DEMO_CLIP, ROOT, main_in_child, shared_path
from test_cli import ENV, assert_one_clear_line, lookout

from detector.batch.inputs import expand

GOOD = {"cut": "cut.avi", "demo": "demo.mp4", "vtest": "vtest.avi", "imgs": "imgs"}
MAX = "40"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The demo clip, vtest.avi, a truncated copy, a text file named .mp4 and a folder of photos."""
    d = tmp_path_factory.mktemp("batch_in")
    vtest = shared_path("media/vtest.avi")
    shutil.copy(DEMO_CLIP, d / "demo.mp4")
    shutil.copy(vtest, d / "vtest.avi")
    (d / "cut.avi").write_bytes(vtest.read_bytes()[:300_000])
    (d / "notes.mp4").write_text("meeting notes, not a video\n")
    (d / "imgs").mkdir()
    for name in ("pets.jpg", "hot_dog.jpg", "kite_and_cold.jpg"):
        shutil.copy(shared_path(f"media/{name}"), d / "imgs" / name)
    return d


@pytest.fixture(scope="module")
def single(inputs, tmp_path_factory):
    """What ``lookout --source X --detections ...`` writes for each good input: batch's reference."""
    out = tmp_path_factory.mktemp("single")
    ref = {}
    for name, rel in GOOD.items():
        p = lookout("--source", str(inputs / rel), "--detections", str(out / f"{name}.jsonl"),
                    "--max-frames", MAX, "--no-progress")
        assert p.returncode == 0, p.stderr
        ref[name] = (out / f"{name}.jsonl").read_bytes()
    return ref


def summary_of(out) -> dict:
    doc = json.loads((out / "summary.json").read_text())
    return {"run": doc["run"], "totals": doc["totals"], **{r["name"]: r for r in doc["inputs"]},
            "order": [r["name"] for r in doc["inputs"]]}


def assert_no_partial_files(out) -> None:
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    assert not list((out / ".lookout-batch" / "work").iterdir())


def check_mixed_run(out, single, p) -> dict:
    assert p.returncode == 1, p.stderr  # two inputs failed, the others are done
    assert "Traceback" not in p.stderr
    s = summary_of(out)
    assert s["order"] == ["cut", "demo", "notes", "vtest", "imgs", "missing"]
    assert {n: s[n]["status"] for n in s["order"]} == {
        "cut": "done", "demo": "done", "notes": "failed", "vtest": "done", "imgs": "done", "missing": "failed"}
    assert "cannot decode" in s["notes"]["error"] and "no such file" in s["missing"]["error"]
    assert any("could not be read" in w for w in s["cut"]["warnings"])  # the cut-short file, said
    assert (s["demo"]["frames"], s["vtest"]["frames"], s["imgs"]["frames"]) == (40, 40, 3)
    assert 0 < s["cut"]["frames"] < 40
    for name in GOOD:  # the single-source CLI's bytes, every line
        assert (out / f"{name}.jsonl").read_bytes() == single[name], name
    assert s["demo"]["detections"]["person"] >= 4 * 40  # the demo's walkers, every frame
    assert {"dog", "hot dog", "kite", "person"} <= set(s["imgs"]["detections"])
    assert not (out / "notes.jsonl").exists() and not (out / "missing.jsonl").exists()
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("name,source,status,frames,fps") and len(rows) == 7
    assert_no_partial_files(out)
    return s


@pytest.mark.slow
def test_ray_off_matches_single_cli_reports_bad_inputs_and_skips_on_rerun(inputs, single, tmp_path):
    out = tmp_path / "out"
    args = ("batch", str(inputs), str(inputs / "missing.mp4"), "--out", str(out), "--ray", "off", "--max-frames", MAX)
    check_mixed_run(out, single, lookout(*args))
    stamp = (out / "demo.jsonl").stat().st_mtime_ns
    again = lookout(*args)
    assert again.returncode == 1 and "4 of 6 inputs already done" in again.stderr
    s = summary_of(out)
    assert [s[n]["status"] for n in GOOD] == ["skipped"] * 4
    assert (out / "demo.jsonl").stat().st_mtime_ns == stamp
    other = lookout(*args[:-1], "41")  # other settings: redone
    assert summary_of(out)["demo"]["status"] == "done" and summary_of(out)["demo"]["frames"] == 41, other.stderr
    forced = lookout(*args, "--force")
    check_mixed_run(out, single, forced)
    assert (out / "demo.jsonl").stat().st_mtime_ns != stamp


@pytest.mark.slow
def test_all_good_exits_0_and_writes_video(tmp_path):
    out = tmp_path / "out"
    p = lookout("batch", str(DEMO_CLIP), "--out", str(out), "--ray", "off", "--video", "--format", "csv")
    assert p.returncode == 0, p.stderr
    s = summary_of(out)
    assert s["demo_vtest"]["status"] == "done" and s["demo_vtest"]["frames"] == 60
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries",
                            "stream=codec_name,nb_read_packets", "-of", "json", str(out / "demo_vtest.mp4")],
                           capture_output=True, text=True)
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], int(stream["nb_read_packets"])) == ("h264", 60)
    rows = (out / "demo_vtest.csv").read_text().splitlines()
    assert rows[0].startswith("frame,pts_ms,x1") and sum(",person," in r for r in rows) >= 4 * 60


@pytest.mark.slow
def test_ray_local_two_workers_same_bytes(inputs, single, tmp_path):
    pytest.importorskip("ray", reason="Ray is a test dependency: pip install -e '.[test]'")
    out = tmp_path / "out"
    p = lookout("batch", str(inputs), str(inputs / "missing.mp4"), "--out", str(out), "--ray", "local",
                "--workers", "2", "--threads-per-worker", "1", "--max-frames", MAX, timeout=240)
    s = check_mixed_run(out, single, p)
    assert s["run"]["mode"] == "local" and s["run"]["workers"] == 2 and s["run"]["startup_s"] > 0


def _kill_first_attempt_at(out, prefix: str, proc) -> dict:
    """SIGKILL the worker process running an input named ``prefix...``, once it is under way."""
    work = out / ".lookout-batch" / "work"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        for attempt in sorted(work.glob(f"{prefix}*/attempt.json")) if work.is_dir() else []:
            try:
                info = json.loads(attempt.read_text())
            except ValueError:
                continue
            time.sleep(1.0)  # mid-input
            os.kill(info["pid"], signal.SIGKILL)
            return {"name": attempt.parent.name.rsplit(".", 1)[0], **info}
        time.sleep(0.1)
    raise AssertionError("no attempt started")


@pytest.mark.slow
def test_two_nodes_and_a_killed_worker(tmp_path):
    pytest.importorskip("ray", reason="Ray is a test dependency: pip install -e '.[test]'")
    from ray.cluster_utils import Cluster
    src = tmp_path / "in"
    src.mkdir()
    vtest = shared_path("media/vtest.avi")
    for i in (1, 2):
        shutil.copy(DEMO_CLIP, src / f"demo{i}.mp4")
        shutil.copy(vtest, src / f"vtest{i}.avi")
    ref = {}
    for name, path in (("demo", DEMO_CLIP), ("vtest", vtest)):
        p = lookout("--source", str(path), "--detections", str(tmp_path / f"{name}.jsonl"), "--max-frames", "200")
        assert p.returncode == 0, p.stderr
        ref[name] = (tmp_path / f"{name}.jsonl").read_bytes()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out = tmp_path / "out"
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "batch", str(src), "--out", str(out), "--ray",
                                 cluster.address, "--workers", "2", "--max-frames", "200", "--no-progress"],
                                env=ENV, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        killed = _kill_first_attempt_at(out, "vtest", proc)
        _, err = proc.communicate(timeout=180)
    finally:
        cluster.shutdown()
    assert proc.returncode == 0, err
    s = summary_of(out)
    assert len({s[n]["node"] for n in s["order"]}) == 2  # both raylets took inputs
    assert s[killed["name"]]["attempts"] == 2 and s[killed["name"]]["status"] == "done"
    assert all(s[n]["attempts"] == 1 for n in s["order"] if n != killed["name"])
    for name in s["order"]:
        assert (out / f"{name}.jsonl").read_bytes() == ref[name.rstrip("12")], name
    assert_no_partial_files(out)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["off", "local"])
def test_ctrl_c_keeps_finished_inputs_leaves_nothing_partial(tmp_path, mode):
    if mode == "local":
        pytest.importorskip("ray", reason="Ray is a test dependency: pip install -e '.[test]'")
    src = tmp_path / "in"
    src.mkdir()
    for i in range(1, 5):
        shutil.copy(DEMO_CLIP if i == 1 else shared_path("media/vtest.avi"), src / f"clip{i}{'.mp4' if i == 1 else '.avi'}")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "batch", str(src), "--out", str(out), "--ray", mode,
                             "--max-frames", "400", "--no-progress"], env=ENV, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    records = out / ".lookout-batch" / "records"
    deadline = time.monotonic() + 120
    while not (records.is_dir() and any(records.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # a hang fails here
    assert proc.returncode == 130, err
    s = summary_of(out)
    done = [n for n in s["order"] if s[n]["status"] == "done"]
    assert "clip1" in done and len(done) < 4
    assert {s[n]["status"] for n in s["order"]} - {"done", "interrupted", "not run"} == set()
    assert sorted(p.name for p in out.glob("*.jsonl")) == [f"{n}.jsonl" for n in done]
    assert_no_partial_files(out)


def test_without_ray_off_works_and_local_says_how_to_install(tmp_path):
    hide = "import sys; sys.modules['ray'] = None; import main; sys.exit(main.main(sys.argv[1:]))"

    def run(*args):
        return subprocess.run([sys.executable, "-c", hide, "batch", str(DEMO_CLIP), "--out", str(tmp_path / "o"),
                               "--max-frames", "5", *args], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
    assert run().returncode == 0  # Ray absent: the default is in-process
    assert summary_of(tmp_path / "o")["run"]["mode"] == "off"
    assert_one_clear_line(run("--ray", "local"), 2, "pip install", "[cluster]", "--ray off")


@pytest.mark.parametrize("args, words", [
    (["--workers", "-1"], ["--workers"]),
    (["--ray", "127.0.0.1:9"], ["cannot reach", "ray start --head"]),
    (["--conf", "2"], ["--conf"]),
    (["--classes", "unicorn"], ["unknown class", "unicorn"]),
])
def test_bad_options_exit_2_fast(tmp_path, args, words):
    p, runtimes = main_in_child("batch", DEMO_CLIP, "--out", tmp_path / "o", *args, env=ENV)
    assert_one_clear_line(p, 2, *words)
    assert runtimes == []  # refused before any model runtime loads


def test_nothing_to_process_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_clear_line(lookout("batch", str(tmp_path / "empty"), str(tmp_path / "*.mkv"), "--out",
                                  str(tmp_path / "o")), 2, "no inputs", "holds no videos", "matched no files")


def test_inputs_from_folders_globs_and_lists(tmp_path, monkeypatch):
    for rel in ("a/cam1.mp4", "a/cam2.mkv", "a/sub/cam1.mp4", "a/shots/x.jpg", "a/shots/y.png", "b/cam1.avi",
                "a/.hidden/z.mp4", "a/readme.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "list.txt").write_text("# day one\nb/cam1.avi\n\nrtsp://admin:hunter2@10.0.0.5/stream1\na/cam2.mkv\n")
    monkeypatch.chdir(tmp_path)
    got = expand(["a", "list.txt", "b/*.avi", "nothing/*.mp4"])
    assert [(i.name, os.path.relpath(i.source) if "://" not in i.source else i.source, i.problem) for i in got] == [
        ("cam1", "a/cam1.mp4", None), ("cam2", "a/cam2.mkv", None), ("shots", "a/shots", None),
        ("cam1-2", "a/sub/cam1.mp4", None), ("cam1-3", "b/cam1.avi", None),
        ("10.0.0.5_stream1", "rtsp://admin:hunter2@10.0.0.5/stream1", None),  # the name never holds the password
        ("nothing", "nothing/*.mp4", "matched no files")]
    assert all(os.path.isabs(i.source) for i in got if "://" not in i.source)
