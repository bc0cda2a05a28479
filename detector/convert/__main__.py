"""Convert TF models to Lookout checkpoints (loaded later with torch.load(weights_only=True)).

usage:
  python -m detector.convert GRAPH.pb|MODEL.tar.gz OUT.pt            # SSDLite-MobileNetV2 detector
  python -m detector.convert SSD.tflite OUT.pt                        # quantised SSD detector (with its
                                                                      #   TFLite_Detection_PostProcess op)
  python -m detector.convert MODEL.tflite OUT.pt --labels LABELS.txt  # quantised MobileNet classifier
  python -m detector.convert CHECKPOINT.pt --onnx-bundle              # ONNX Runtime bundle beside it

The embedded detectors are made with:
  python -m detector.convert ../shared/models/ssd_mobilenet_v2_coco_quant_postprocess.tflite \\
      assets/ssd_mobilenetv2_coco.pt
  python -m detector.convert assets/ssd_mobilenetv2_coco.pt --onnx-bundle
  python -m detector.convert ../shared/models/ssdlite_mobilenet_v2_person_frozen_inference_graph.pb \\
      assets/ssdlite_mobilenetv2_person.pt
  python -m detector.convert assets/ssdlite_mobilenetv2_person.pt --onnx-bundle
"""
import argparse
import sys
from pathlib import Path


def main(argv: list[str], prog: str = "python -m detector.convert") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--onnx-bundle", action="store_true",
                    help="export a detector checkpoint's ONNX Runtime bundle beside it (no OUT)")
    ap.add_argument("--labels", help="labels file for a .tflite classifier (one per output)")
    args = ap.parse_args(argv)
    if args.onnx_bundle == bool(args.out):
        ap.error("give OUT, or --onnx-bundle with a .pt checkpoint")
    try:
        if args.onnx_bundle:
            from detector.runtime.torch_detector import quantized_source, write_onnx_bundle
            from detector.runtime.quant_detector import write_quant_bundle
            write = write_quant_bundle if quantized_source(args.source) else write_onnx_bundle
            onnx_path, meta_path = write(args.source)
            print(f"wrote {onnx_path} and {meta_path}")
            return 0
        if args.source.endswith(".tflite") and _has_postprocess_op(Path(args.source)):
            from detector.models.labels import COCO90
            from detector.runtime.quant_detector import read_tflite_ssd, save_checkpoint
            conv = read_tflite_ssd(args.source)
            if conv.num_classes != len(COCO90):
                raise ValueError(f"expected the 90 COCO classes (+ background), got {conv.num_classes - 1}")
            save_checkpoint(conv, COCO90, args.out)
            print(f"wrote {args.out}: quantised SSD-MobileNetV2, {conv.num_classes} classes, {len(conv.anchors)} anchors")
            return 0
        if args.source.endswith(".tflite"):
            from detector.runtime.classifier import Classifier, find_labels, read_labels
            from detector.convert.tflite_mobilenet import convert_tflite
            conv = convert_tflite(Path(args.source).read_bytes())
            labels = read_labels(args.labels or find_labels(Path(args.source)), conv.num_classes)
            Classifier.from_converted(conv, labels, "cpu", Path(args.source).name).save(args.out, conv)
            print(f"wrote {args.out}: {conv.arch} width {conv.width} at {conv.resolution}px, {conv.num_classes} classes")
            return 0
        from detector.runtime.torch_detector import weights_from_graph
        weights = weights_from_graph(args.source)
    except (ValueError, OSError) as e:
        print(f"lookout convert: error: {e}", file=sys.stderr)
        return 2
    weights.save(args.out)
    n = sum(t.numel() for t in weights.state_dict.values())
    print(f"wrote {args.out}: {n} values, {weights.num_classes} classes ({', '.join(weights.labels[:4])}...)")
    return 0


def _has_postprocess_op(path: Path) -> bool:
    from detector.convert.tflite_ssd import POSTPROCESS_OP
    return POSTPROCESS_OP.encode() in path.read_bytes()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
