"""Batch mode: many inputs, one machine or a Ray cluster (``lookout batch``).

Layers: ``inputs`` (what to process) <- ``job`` (one input through the engine, exactly once) <-
``runners`` (in-process or Ray actors) <- ``summary`` (what happened, per input). Ray is imported
only by ``ray_runner``, and only when asked for.
"""
