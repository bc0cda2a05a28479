"""Time the reference runtimes on given inputs; run by ``python tools/bench.py --tf-python``.

usage: tf_bench.py detector GRAPH.pb FRAMES.npy THREADS WARMUP   # TF frozen graph, full path
       tf_bench.py tflite MODEL.tflite FRAMES.npy THREADS WARMUP # TFLite interpreter, 224x224 inputs
       tf_bench.py tflite_detector SSD.tflite FRAMES.npy THREADS WARMUP  # TFLite SSD, full path
Runs in a Python that has tensorflow-cpu / ai-edge-litert (a throwaway venv, never Lookout's). Prints one
JSON line: {"ms": [per-call milliseconds], "rss_mb": peak RSS, "version": ..., "config": how the reference
was set up}. Inputs are BGR uint8 frames; each call gets one RGB frame, as Lookout's full path does.
Each reference runs at its best: TF with intra-op = THREADS and both its default inter-op pool and
inter-op = 2 (the faster is reported; inter-op = 1 serialises the graph's independent branches), the
TFLite interpreter with XNNPACK (its default) on THREADS threads.
"""
import json
import resource
import sys
import time

import numpy as np

kind, model_path, frames_path, threads, warmup = sys.argv[1:6]
threads, warmup = int(threads), int(warmup)
frames = np.load(frames_path)

if kind == "detector":
    import tensorflow as tf
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(open(model_path, "rb").read())
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(gd, name="")
    outs = ["detection_boxes:0", "detection_scores:0", "detection_classes:0", "num_detections:0"]
    best = None
    for inter in (0, 2):  # 0: TF's default inter-op pool
        cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=inter)
        sess = tf.compat.v1.Session(graph=g, config=cfg)
        trial = lambda f, sess=sess: sess.run(outs, {"image_tensor:0": np.ascontiguousarray(f[None, :, :, ::-1])})  # noqa: E731
        for f in frames[:warmup]:
            trial(f)
        t = time.perf_counter()
        for f in frames[: max(warmup, 20)]:
            trial(f)
        took = time.perf_counter() - t
        if best is None or took < best[0]:
            best = (took, trial, f"intra-op {threads}, inter-op {'default' if inter == 0 else inter}")
    _, call, config = best
    version = tf.__version__
elif kind == "tflite_detector":
    import cv2
    try:
        from ai_edge_litert.interpreter import Interpreter
        import ai_edge_litert as lib
        version = getattr(lib, "__version__", "ai-edge-litert")
    except ImportError:
        import tensorflow as tf
        Interpreter, version = tf.lite.Interpreter, tf.__version__
    it = Interpreter(model_path=model_path, num_threads=threads)  # XNNPACK by default
    config = f"XNNPACK, {threads} threads"
    it.allocate_tensors()
    inp, outs = it.get_input_details()[0], it.get_output_details()
    h, w = (int(v) for v in inp["shape"][1:3])

    def call(f):  # the full path: BGR frame in, the post-processed detections out
        rgb = cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
        it.set_tensor(inp["index"], cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)[None])
        it.invoke()
        [it.get_tensor(o["index"]) for o in outs]
else:
    try:
        from ai_edge_litert.interpreter import Interpreter
        import ai_edge_litert as lib
        version = getattr(lib, "__version__", "ai-edge-litert")
    except ImportError:
        import tensorflow as tf
        Interpreter, version = tf.lite.Interpreter, tf.__version__
    it = Interpreter(model_path=model_path, num_threads=threads)
    config = f"XNNPACK, {threads} threads"
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]

    def call(f):
        it.set_tensor(inp["index"], np.ascontiguousarray(f[None, :, :, ::-1]).astype(inp["dtype"]))
        it.invoke()
        it.get_tensor(out["index"])

for f in frames[:warmup]:
    call(f)
ms = []
for f in frames:
    t = time.perf_counter()
    call(f)
    ms.append((time.perf_counter() - t) * 1000)
print(json.dumps({"ms": ms, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "version": version,
                  "config": config}))
