"""Every training option in one place, saved verbatim as the run's config.json.

These dataclasses are where each default is declared: the library functions and the command line read
them from here, so a default changes in one line. TensorFlow-free (the CLI imports it for its help).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


FINE_TUNE_SCHEDULES = ("cosine", "constant")  # cosine: decays to zero over fine_tune_epochs
AVERAGE_FROM = 3  # the fine-tuning epoch from which weights are averaged when the option is left at None
NONE_MEANS = {"average_from": f"{AVERAGE_FROM}, off when fine-tuning is shorter"}  # what a None default stands for


@dataclass
class TrainConfig:
    # backbone
    backbone: str = "mobilenet_v2"
    alpha: float = 1.0
    size: int = 224
    weights: str = "imagenet"  # imagenet | none | PATH to a Keras no-top .h5
    # head
    dropout: float = 0.2
    label_smoothing: float = 0.1
    # schedule
    strategy: str = "auto"  # auto | features | fine-tune
    fine_tune: int = -1  # top inverted-residual blocks to unfreeze; -1 = decided by strategy
    epochs: int = 40  # head stage (cheap: runs on cached features)
    fine_tune_epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 5e-4  # 1e-4 was still underfitting after 12 epochs (BENCHMARKS.md)
    fine_tune_schedule: str = "constant"  # one of FINE_TUNE_SCHEDULES; cosine measured, not adopted (BENCHMARKS.md)
    patience: int = 6
    average_from: int | None = None  # fine-tune epoch from which weights are averaged step by step; 0 = off, None = AVERAGE_FROM
    fine_tune_share: float = 0.85  # final top = share x fine-tuned + rest x linear probe (ImageNet blocks, stage-1 head)
    class_weights: bool = True
    # augmentation: view 0 is the plain image, views 1..K-1 are augmented copies cached once
    augment: bool = True
    views: int = 4
    # data
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    cache_dir: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def averaging_start(self) -> int:
        """The fine-tuning epoch from which weights are averaged, 0 for none: None means AVERAGE_FROM when fine-tuning
        runs that long, so a short schedule (tests, quick tries) needs no second option."""
        if self.average_from is not None:
            return self.average_from
        return AVERAGE_FROM if self.fine_tune_epochs >= AVERAGE_FROM else 0

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class QatConfig:
    """Quantization-aware fine-tuning of a trained run (`edgetl qat`)."""

    epochs: int = 2
    learning_rate: float = 1e-5
    batch_size: int = 32
    max_images: int | None = 2000  # a seeded sample of the training images when there are more
    seed: int = 0
