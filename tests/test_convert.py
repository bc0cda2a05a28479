"""The frozen-graph converter and the COCO download path, offline, on the real person graph."""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading

import pytest
import torch

from conftest import DEMO_CLIP, read_frame, shared_path
from detector.runtime.torch.detector import Detector
import dataclasses

from detector.models.registry import MODELS
from detector.runtime.weights import downloaded_weights, float_weights as load_weights



def coco_weights(url: str, sha256: str):
    """The registry's COCO SSDLite entry with the download pointed at a local server."""
    info = dataclasses.replace(MODELS["ssdlite-mobilenetv2-coco"], url=url, sha256=sha256, mirror_env="")
    return downloaded_weights(info)
from detector.models.ssdlite import DetectorWeights
from detector.util.download import WeightsUnavailable

GRAPH = "models/ssdlite_mobilenet_v2_person_frozen_inference_graph.pb"


@pytest.fixture(scope="module")
def graph_bytes():
    return shared_path(GRAPH).read_bytes()


def test_converter_reproduces_the_embedded_weights(graph_bytes, tmp_path):
    """The graph's weights, BatchNorm folded, are the embedded ONNX file's, bit for bit."""
    from detector.models.fold import fold_batchnorm
    pb = tmp_path / "person.pb"
    pb.write_bytes(graph_bytes)
    converted = load_weights(str(pb))
    embedded = load_weights("ssdlite-mobilenetv2-person")  # from the embedded ONNX file
    assert converted.labels == embedded.labels == ("background", "person") and converted.num_classes == 2
    assert embedded.folded and not converted.folded
    folded = fold_batchnorm(converted.build()).state_dict()
    assert folded.keys() == embedded.state_dict.keys()
    for k, v in embedded.state_dict.items():
        assert torch.equal(folded[k], v), k


def test_truncated_graph_is_a_clear_error(graph_bytes, tmp_path):
    pb = tmp_path / "cut.pb"
    pb.write_bytes(graph_bytes[: len(graph_bytes) // 2])
    with pytest.raises(ValueError, match="truncated protobuf"):
        load_weights(str(pb))


def test_graph_missing_a_tensor_names_it(graph_bytes, tmp_path):
    pb = tmp_path / "renamed.pb"
    name = b"BoxPredictor_3/ClassPredictor/biases"
    assert graph_bytes.count(name) >= 1
    pb.write_bytes(graph_bytes.replace(name, b"BoxPredictor_3/ClassPredictor/biasez"))
    with pytest.raises(ValueError, match="BoxPredictor_3/ClassPredictor/biases' .* is missing"):
        load_weights(str(pb))


def test_not_a_graph_is_a_clear_error(tmp_path):
    f = tmp_path / "text.pb"
    f.write_text("hello, this is not a graph\n" * 10)
    with pytest.raises(ValueError, match="protobuf|GraphDef"):
        load_weights(str(f))


def _tarball(graph_bytes: bytes, path):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("ssdlite_mobilenet_v2_coco_2018_05_09/frozen_inference_graph.pb")
        info.size = len(graph_bytes)
        tar.addfile(info, io.BytesIO(graph_bytes))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def local_server(tmp_path):
    """A loopback HTTP server over tmp_path/www, stopped after the test."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield www, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    t.join(2)


def test_zoo_tarball_downloads_verifies_converts_and_caches(graph_bytes, local_server, tmp_path, monkeypatch):
    www, base = local_server
    sha = _tarball(graph_bytes, www / "model.tar.gz")
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path / "cache"))
    w = coco_weights(url=f"{base}/model.tar.gz", sha256=sha)
    assert (tmp_path / "cache" / "ssdlite-mobilenetv2-coco.pt").is_file()
    # second time: from the cache, the server is not needed
    (www / "model.tar.gz").unlink()
    again = coco_weights(url=f"{base}/model.tar.gz", sha256=sha)
    assert torch.equal(again.state_dict["head.cls.5.1.bias"], w.state_dict["head.cls.5.1.bias"])
    det = Detector(w.build(), w.labels, torch.device("cpu"), (300, 300))
    assert len(det.detect(read_frame(DEMO_CLIP, 0))) >= 4


def test_download_with_wrong_hash_is_refused_and_cache_untouched(graph_bytes, local_server, tmp_path, monkeypatch):
    www, base = local_server
    _tarball(graph_bytes, www / "model.tar.gz")
    cache = tmp_path / "cache"
    monkeypatch.setenv("LOOKOUT_CACHE", str(cache))
    with pytest.raises(WeightsUnavailable, match="sha256"):
        coco_weights(url=f"{base}/model.tar.gz", sha256="0" * 64)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_offline_coco_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LOOKOUT_COCO_URL", "http://127.0.0.1:9/ssdlite.tar.gz")  # discard port: refused
    with pytest.raises(WeightsUnavailable) as e:
        Detector.load("ssdlite-mobilenetv2-coco", device="cpu")
    assert "cannot download" in str(e.value) and "\n" not in str(e.value)


def test_local_tarball_works_offline(graph_bytes, tmp_path):
    tgz = tmp_path / "ssdlite_mobilenet_v2_coco_2018_05_09.tar.gz"
    _tarball(graph_bytes, tgz)
    det = Detector.load(str(tgz), device="cpu")
    assert det.labels == ("background", "person")
    assert len(det.detect(read_frame(DEMO_CLIP, 0))) >= 4
