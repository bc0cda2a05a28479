"""NumPy pre- and post-processing: TF-exact resize, box coder, NMS, SSD decoding, drawing. No torch."""
