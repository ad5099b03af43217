"""Training side (imports TensorFlow): backbones, cached features, augmentation, trainer, QAT."""
