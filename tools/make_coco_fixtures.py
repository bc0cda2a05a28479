"""Regenerate tests/fixtures/tflite_coco/ from the TFLite interpreter (needs ../shared and a throwaway
venv with ai-edge-litert + opencv, see ../shared/README.md):

    python tools/make_coco_fixtures.py /tmp/ref/bin/python

Runs ../shared/tools/tflite_detect_reference.py on every shared photo and every 50th vtest.avi frame,
then keeps only the model's outputs: the raw quantised 'Squeeze' and 'concat' integers and the
post-processed boxes, classes, scores and count (no input pixels, no duplicate float copies).
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
OUT = ROOT / "tests" / "fixtures" / "tflite_coco"
PHOTOS = ("cat.bmp", "cat_720p.jpg", "grace_hopper.bmp", "hot_dog.jpg", "kite_and_cold.jpg", "pets.jpg", "squat.bmp")
KEEP = ("Squeeze__q", "concat__q", "boxes", "classes", "scores", "count")


def main(tf_python: str) -> None:
    media = SHARED / "media"
    inputs = [str(media / p) for p in PHOTOS] + [f"{media / 'vtest.avi'}@{i}" for i in range(0, 795, 50)]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([tf_python, str(SHARED / "tools" / "tflite_detect_reference.py"),
                        str(SHARED / "models" / "ssd_mobilenet_v2_coco_quant_postprocess.tflite"), tmp, *inputs],
                       check=True)
        OUT.mkdir(parents=True, exist_ok=True)
        for f in sorted(Path(tmp).glob("*.npz")):
            with np.load(f) as z:
                np.savez_compressed(OUT / f.name, **{k: z[k] for k in KEEP})
    print(f"wrote {len(list(OUT.glob('*.npz')))} fixtures to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
