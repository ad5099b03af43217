"""On-device runtime: camera frames in, spoken banknote denominations out (numpy/OpenCV only, never TensorFlow)."""
