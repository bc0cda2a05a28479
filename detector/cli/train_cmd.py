"""``lookout train DATA --out my.onnx``: a classifier of your own classes on MobileNetV2 features,
exported as one int8 ONNX file with its card (labels, preprocessing, source)."""
from __future__ import annotations

import argparse
import random
import sys
import time

from detector.io.sources import DEFAULT_MAX_PIXELS

CALIBRATION_IMAGES = 200  # a seeded sample of the training images for int8 activation ranges
MIN_AGREEMENT = 0.98     # int8 must give the float model's answer on this share of the validation images


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lookout train", description="Train a classifier of your own classes (one folder of images per "
        "class; a 'none' class for 'none of these' is recommended) on MobileNetV2 features, and write it as "
        "one self-describing int8 ONNX file for --classify boxes --classifier FILE or --state. Needs "
        "lookout[torch]; the file it writes runs without it. Details: docs/classify.md.")
    p.add_argument("data", metavar="DATA", help="folder with one sub-folder of images per class (split for "
                   "validation), or with train/<class>/ and val/<class>/")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="the model file to write")
    p.add_argument("--base", default="auto", metavar="auto|imagenet|coco|FILE.tflite",
                   help="where training starts: torchvision's ImageNet MobileNetV2 when cached (imagenet), the "
                   "embedded COCO detector's body (coco, offline), or a quantised MobileNetV2 1.0 .tflite "
                   "classifier; auto: imagenet when cached, else coco (default)")
    p.add_argument("--unfreeze", type=int, default=0, metavar="N", help="also train the body's last N stages "
                   "(0-19; 1 = the last 1x1 conv, 2 and up add inverted residual blocks); default 0: only the new head")
    p.add_argument("--augment", type=int, default=0, metavar="N", help="N augmented copies of each training "
                   "image (crop, shift, mirror, light, blur, resolution, JPEG as cameras vary; 0-8; default 0)")
    p.add_argument("--epochs", type=int, default=30, help="passes over the training set (1-500; default 30)")
    p.add_argument("--val-split", type=float, default=0.2, metavar="F", help="fraction of each class held out "
                   "for validation when DATA has no val/ folder (0.05-0.5; default 0.2)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N training images a class "
                   "(a seeded sample; 0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, sampling, augmentation and "
                   "training (same data and seed: same model)")
    p.add_argument("--objects", default="", metavar="LABELS", help="the detector labels whose crops these "
                   "are (e.g. person): --classify-labels is then checked against them")
    p.add_argument("--float", dest="int8", action="store_false",
                   help="write the float model, not int8 (int8 is written only when it gives the float "
                   "model's answer on 98%% of the validation images)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="images over this many pixels "
                   "are skipped, never decoded")
    p.add_argument("--overwrite", "-y", action="store_true", help="replace --out if it exists")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


def _check(a) -> None:
    checks = [(0 <= a.unfreeze <= 19, f"expected --unfreeze from 0 to 19, got {a.unfreeze}"),
              (0 <= a.augment <= 8, f"expected --augment from 0 to 8 copies, got {a.augment}"),
              (1 <= a.epochs <= 500, f"expected --epochs from 1 to 500, got {a.epochs}"),
              (0.05 <= a.val_split <= 0.5, f"expected --val-split from 0.05 to 0.5, got {a.val_split}"),
              (a.limit >= 0, f"expected --limit >= 0 images a class, got {a.limit}"),
              (a.max_pixels >= 1, f"expected --max-pixels >= 1, got {a.max_pixels}"),
              (a.out.lower().endswith(".onnx"), f"expected --out to name a .onnx file, got {a.out!r}")]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    from detector.util.write_guard import Named, check_writes
    check_writes([Named("--out", a.out)], [], a.overwrite)


def _skipped_lines(skipped: list[tuple[str, str]], shown: int = 10) -> list[str]:
    lines = [f"skipped {len(skipped)} unreadable file(s):"] if skipped else []
    lines += [f"  {p}: {why}" for p, why in skipped[:shown]]
    if len(skipped) > shown:
        lines.append(f"  ... and {len(skipped) - shown} more")
    return lines


def train_main(argv: list[str]) -> int:
    a = train_parser().parse_args(argv)
    _check(a)
    t0, cpu0 = time.monotonic(), time.process_time()
    from detector.train.dataset import scan
    data = scan(a.data, a.val_split, a.seed, a.max_pixels, a.limit)
    k = len(data.labels)
    print(f"{k} classes ({', '.join(data.labels)}); {data.layout}; train {data.train.counts(k)}, "
          f"validation {data.val.counts(k)} images a class", file=sys.stderr)
    from detector.runtime.host import require_torch
    require_torch("lookout train")
    import numpy as np
    import torch
    from detector.train.backbones import load_base
    from detector.train.export import card_for, float_model, quantise, run_model
    from detector.train.features import extract
    from detector.train.fit import fit, predict
    from detector.train.report import report
    base = load_base(a.base)
    print(f"base: {base.source}", file=sys.stderr)
    cut = len(base.stages) - a.unfreeze
    torch.manual_seed(a.seed)
    acts, idx, failed = extract(base, cut, data.train.paths, a.augment, a.seed, "train features", a.progress)
    vacts, vidx, vfailed = extract(base, cut, data.val.paths, 0, a.seed, "val features", a.progress)
    skipped = data.skipped + [(p, "does not decode (damaged or cut off)") for p in failed + vfailed]
    for line in _skipped_lines(skipped):
        print(line, file=sys.stderr)
    y = np.asarray(data.train.targets, np.int64)[idx] if len(idx) else np.zeros(0, np.int64)
    missing = [data.labels[i] for i in range(k) if not (y == i).any()]
    if missing:
        raise ValueError(f"class(es) {', '.join(missing)} have no image that decodes; add readable images")
    t_feat = time.monotonic()
    model = fit(base, cut, acts, y, k, a.epochs, a.seed, progress=a.progress)
    vy = np.asarray(data.val.targets, np.int64)[vidx]
    vpaths = [data.val.paths[i] for i in vidx]
    probs = predict(model, base, cut, vacts)
    t_fit = time.monotonic()
    print(report(data.labels, vy, probs, vpaths), file=sys.stderr)
    from pathlib import Path
    extra = {"objects": [s.strip() for s in a.objects.split(",") if s.strip()],
             "trained": {"train_images": len(data.train), "val_images": len(vpaths),
                         "val_accuracy": round(float((probs.argmax(1) == vy).mean()), 4), "seed": a.seed,
                         "unfreeze": a.unfreeze, "augment": a.augment, "epochs": a.epochs}}
    card = card_for(Path(a.out).stem, data.labels, base, extra)
    proto = float_model(model, base, card)
    if a.int8:
        rng = random.Random(a.seed)
        calibration = rng.sample(data.train.paths, min(len(data.train.paths), CALIBRATION_IMAGES))
        q = quantise(proto, calibration, base)
        qprobs = run_model(q, base, vpaths, "int8 check", a.progress)
        agree = float((qprobs.argmax(1) == probs.argmax(1)).mean())
        q_acc = float((qprobs.argmax(1) == vy).mean())
        print(f"int8: validation accuracy {q_acc:.4f}, agrees with float on {agree:.4f} of "
              f"{len(vpaths)} validation images", file=sys.stderr)
        extra["trained"].update(int8_val_accuracy=round(q_acc, 4), int8_agreement=round(agree, 4))
        if agree >= MIN_AGREEMENT:
            proto = q
        else:  # a model that answers differently from the one the report describes is not written
            a.int8 = False
            print(f"int8 agrees on less than {MIN_AGREEMENT:.0%}: writing the float model instead (same answers "
                  f"as the report above, about 4x the file size)", file=sys.stderr)
        card["trained"]["int8"] = a.int8
        from detector.convert.card_io import write_card
        write_card(proto, card)
    from detector.util.files import replace_bytes
    replace_bytes(a.out, proto.SerializeToString())
    t_end = time.monotonic()
    # CPU seconds beside the wall clock: on a shared machine the wall clock says more about the neighbours
    print(f"wrote {a.out} ({'int8' if a.int8 else 'float'}, {len(data.labels)} labels); {t_end - t0:.0f} s in all, "
          f"{time.process_time() - cpu0:.0f} s of CPU (features {t_feat - t0:.0f} s, fit {t_fit - t_feat:.0f} s, "
          f"export and check {t_end - t_fit:.0f} s)", file=sys.stderr)
    return 0
