"""edgetl: transfer learning from a folder of photos to a talking on-device classifier."""

__version__ = "0.1.0"
