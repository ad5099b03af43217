"""Export side: TFLite conversion, metadata, delegate compatibility (imports TensorFlow)."""
