"""Convert a TF OD API SSDLite-MobileNetV2 frozen graph to a Lookout detector checkpoint.

usage: python -m detector.convert GRAPH.pb|MODEL.tar.gz OUT.pt

The embedded default model is made with:
    python -m detector.convert ../shared/models/ssdlite_mobilenet_v2_person_frozen_inference_graph.pb \
        assets/ssdlite_mobilenetv2_person.pt
"""
import sys

from ..detector import weights_from_graph


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        weights = weights_from_graph(argv[0])
    except ValueError as e:
        print(f"lookout convert: {e}", file=sys.stderr)
        return 1
    weights.save(argv[1])
    n = sum(t.numel() for t in weights.state_dict.values())
    print(f"wrote {argv[1]}: {n} values, {weights.num_classes} classes ({', '.join(weights.labels[:4])}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
