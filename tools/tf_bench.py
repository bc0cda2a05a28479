"""Time the original TF frozen graph on given frames; run by ``python -m detector.bench --tf-python``.

usage: tf_bench.py GRAPH.pb FRAMES.npy THREADS WARMUP
Runs in a Python that has tensorflow-cpu (a throwaway venv, never Lookout's). Prints one JSON line:
{"ms": [per-call milliseconds], "rss_mb": peak RSS, "tf": version}. Input per call: one RGB uint8
frame, through the whole graph (resize, network, decoding, NMS), as Lookout's full path does.
"""
import json
import resource
import sys
import time

import numpy as np
import tensorflow as tf

graph_path, frames_path, threads, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
frames = np.load(frames_path)
gd = tf.compat.v1.GraphDef()
gd.ParseFromString(open(graph_path, "rb").read())
g = tf.Graph()
with g.as_default():
    tf.import_graph_def(gd, name="")
cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
sess = tf.compat.v1.Session(graph=g, config=cfg)
outs = ["detection_boxes:0", "detection_scores:0", "detection_classes:0", "num_detections:0"]
for f in frames[:warmup]:
    sess.run(outs, {"image_tensor:0": f[None, :, :, ::-1]})
ms = []
for f in frames:
    rgb = np.ascontiguousarray(f[None, :, :, ::-1])
    t = time.perf_counter()
    sess.run(outs, {"image_tensor:0": rgb})
    ms.append((time.perf_counter() - t) * 1000)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ms": ms, "rss_mb": rss, "tf": tf.__version__}))
