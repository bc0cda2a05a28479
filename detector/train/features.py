"""The frozen part of the body, run once over every image: its stages exported to ONNX and run in
ONNX Runtime (on 2 cores 3-4x faster than eager PyTorch for this network: docs/classify.md), images
decoded on a second thread while the previous batch runs."""
from __future__ import annotations

import io
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from detector.runtime.classifier import ClassifierPreprocessing
from detector.runtime.host import default_threads
from detector.runtime.onnx.session import plain_ort_session
from detector.train.augment import camera_crop
from detector.train.backbones import Base, pooled
from detector.train.dataset import decode

BATCH = 16


class _Prefix(nn.Module):
    """Stages ``[:cut]`` of ``base`` (pooled when that is all of them)."""

    def __init__(self, base: Base, cut: int):
        super().__init__()
        self.stages, self.all, self.scale = base.stages[:cut], cut >= len(base.stages), base.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)
        return pooled(x, self.scale) if self.all else x


def onnx_bytes(module: nn.Module, size: int, output: str = "logits") -> bytes:
    """``module`` (input (N, 3, size, size) float32 "images") as ONNX bytes with a dynamic batch."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on TF-SAME padding sizes (constant here, as meant)
        torch.onnx.export(module.eval(), torch.zeros(1, 3, size, size), buf, input_names=["images"],
                          output_names=[output], dynamic_axes={"images": {0: "n"}, output: {0: "n"}},
                          opset_version=17, dynamo=False)
    return buf.getvalue()


def session(graph: bytes):
    """A session as the run-time classifier's (threads as torch picks them), for training's graphs."""
    import onnxruntime as ort
    ort.set_default_logger_severity(3)  # not its notes on the exporter's unused constants, in every session
    return plain_ort_session(graph, default_threads())


def preprocessing(base: Base) -> ClassifierPreprocessing:
    """The run-time classifier's own preprocessing for ``base``'s input: what training sees is what
    ``OnnxClassifier`` will feed the exported model."""
    return ClassifierPreprocessing(base.size, 0, base.mean, base.std)


def to_input(images: list[np.ndarray], pre: ClassifierPreprocessing) -> np.ndarray:
    """RGB uint8 images -> (N, 3, S, S) float32 ``(rgb - mean) / std``."""
    x = np.stack([pre.image(im) for im in images]).transpose(0, 3, 1, 2).astype(np.float32)
    x -= np.asarray(pre.mean, np.float32).reshape(1, 3, 1, 1)
    x /= np.asarray(pre.std, np.float32).reshape(1, 3, 1, 1)
    return x


def extract(base: Base, cut: int, paths: list[str], copies: int = 0, seed: int = 0, desc: str = "",
            progress: bool = True) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Stages ``[:cut]`` on every image of ``paths`` and on ``copies`` augmented copies of each.

    Returns (outputs (M, ...) float32, index (M,) into ``paths`` of each row, paths that failed to
    decode). Rows of one image: the image itself first, then its copies."""
    sess = session(onnx_bytes(_Prefix(base, cut), base.size, "features"))
    pre = preprocessing(base)
    rng = np.random.default_rng(seed)
    failed: list[str] = []

    def load(chunk: list[int]):
        imgs, idx = [], []
        for i in chunk:
            rgb = decode(paths[i])
            if rgb is None:
                failed.append(paths[i])
                continue
            imgs.append(rgb)
            idx.append(i)
            for _ in range(copies):
                imgs.append(camera_crop(rgb, rng))
                idx.append(i)
        return (to_input(imgs, pre) if imgs else None), idx

    chunks = [list(range(k, min(k + BATCH, len(paths)))) for k in range(0, len(paths), BATCH)]
    outs, index = [], []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(paths), unit="image", desc=desc, dynamic_ncols=True, file=sys.stderr)
    # one decoding thread: augmentation draws from one rng in chunk order, so runs repeat
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(load, chunks[0]) if chunks else None
        for k in range(len(chunks)):
            x, idx = pending.result()
            pending = pool.submit(load, chunks[k + 1]) if k + 1 < len(chunks) else None
            if x is not None:
                outs.append(sess.run(None, {"images": x})[0])
                index += idx
            if bar is not None:
                bar.update(len(chunks[k]))
    if bar is not None:
        bar.close()
    if not outs:
        return np.zeros((0,), np.float32), np.zeros((0,), np.int64), failed
    return np.concatenate(outs), np.asarray(index, np.int64), failed
