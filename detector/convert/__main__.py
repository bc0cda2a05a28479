"""Convert TF models to Lookout's one-file ONNX models (or checkpoints, loaded with
torch.load(weights_only=True)).

usage:
  python -m detector.convert GRAPH.pb|MODEL.tar.gz OUT.onnx          # SSDLite-MobileNetV2 detector
  python -m detector.convert SSD.tflite OUT.onnx                      # quantised SSD detector (with its
                                                                      #   TFLite_Detection_PostProcess op)
  python -m detector.convert MODEL.tflite OUT.pt --labels LABELS.txt  # quantised MobileNet classifier
  python -m detector.convert SOURCE OUT.pt                            # a detector as a checkpoint
  python -m detector.convert CHECKPOINT.pt --onnx-bundle              # a checkpoint's ONNX model beside it

An .onnx detector carries its card (labels, preprocessing, decoder) and is all Lookout needs: ONNX
Runtime runs it, and the torch backends build their model from its weights. The embedded detectors
are made with:
  python -m detector.convert ../shared/models/ssd_mobilenet_v2_coco_quant_postprocess.tflite \\
      assets/ssd_mobilenetv2_coco.onnx
  python -m detector.convert ../shared/models/ssdlite_mobilenet_v2_person_frozen_inference_graph.pb \\
      assets/ssdlite_mobilenetv2_person.onnx
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
                    help="export a detector checkpoint's one-file ONNX model (graph + card) beside it (no OUT; "
                         "the same as OUT = the checkpoint's name with .onnx)")
    ap.add_argument("--labels", help="labels file for a .tflite classifier (one per output)")
    args = ap.parse_args(argv)
    if args.onnx_bundle == bool(args.out):
        ap.error("give OUT, or --onnx-bundle with a .pt checkpoint")
    try:
        if args.onnx_bundle or args.out.endswith(".onnx"):
            if args.labels:
                raise ValueError("--labels is for a .tflite classifier, which converts to a .pt checkpoint")
            from detector.convert.bundle_export import write_bundle
            print(f"wrote {write_bundle(args.source, args.out)}")
            return 0
        if args.source.endswith(".tflite") and _has_postprocess_op(Path(args.source)):
            from detector.models.labels import COCO90
            from detector.convert.tflite_ssd import read_tflite_ssd
            from detector.models.quant_weights import save_quant_ssd
            conv = read_tflite_ssd(args.source)
            if conv.num_classes != len(COCO90):
                raise ValueError(f"expected the 90 COCO classes (+ background), got {conv.num_classes - 1}")
            save_quant_ssd(conv, COCO90, args.out)
            print(f"wrote {args.out}: quantised SSD-MobileNetV2, {conv.num_classes} classes, {len(conv.anchors)} anchors")
            return 0
        if args.source.endswith(".tflite"):
            from detector.convert.tflite_mobilenet import convert_tflite
            from detector.models.labels import find_labels, read_labels
            from detector.models.quant_weights import save_classifier
            conv = convert_tflite(Path(args.source).read_bytes())
            labels = read_labels(args.labels or find_labels(Path(args.source)), conv.num_classes)
            save_classifier(conv, labels, args.out)
            print(f"wrote {args.out}: {conv.arch} width {conv.width} at {conv.resolution}px, {conv.num_classes} classes")
            return 0
        from detector.convert.tf_detection import weights_from_graph
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
