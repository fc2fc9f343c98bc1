"""Named, versioned training recipes: everything that defines a training run.

Plain data, no torch: the training command lists the recipes before it loads anything heavy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class Augment:
    rotate: float = 0.0  # max degrees either way
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0  # fraction of a full turn, at most 0.5
    flip: float = 0.0  # probability of a horizontal flip
    box_scale: float = 0.0  # box size scaled by 1 +- this
    box_shift: float = 0.0  # box centre moved by +- this fraction of its size
    occlude: float = 0.0  # probability of a grey rectangle (10-40 % of the crop side) over the crop



@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    arch: str = "resnet18"  # the backbone (network.ARCHS)
    input_size: int = 224
    in_channels: int = 1
    margin: float = 0.0  # crop = face box grown by 1 + margin
    square: bool = False  # square crop (False stretches the box to the input, as the seed did)
    head: str = "regress"  # or "pip" (see network.py)
    loss: str = "mse"  # "mse" or "l1" for the regress head, "pip" for the pip head
    optimizer: str = "adam"  # or "adamw"
    lr: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 50
    schedule: str = "constant"  # or "cosine"
    augment: Augment = field(default_factory=Augment)
    val_fraction: float = 0.1
    seed: int = 0
    ema: float = 0.0  # decay of an exponential moving average of the weights, validated and saved; 0: off
    readout: str | None = None  # how the head reads points (heads.py), in validation and in the saved model
    # distillation (train with a teacher model): the weight of the teacher's points against the
    # ground truth in the loss; faces of an extra source learn from the teacher alone. 0: no teacher
    distil: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def preprocess(self):
        from ..model.preprocess import Preprocess  # cv2; recipes stay importable without it

        return Preprocess(size=self.input_size, channels=self.in_channels, margin=self.margin, square=self.square)


RECIPES = {
    # The seed tutorial: grayscale 224 crop of the face box, ResNet18 -> 136 numbers,
    # MSE, Adam 1e-4, batch 64, colour jitter 0.3/0.3/0.3/0.1 and rotation +-10 deg.
    "tutorial": Recipe(
        name="tutorial",
        version=1,
        augment=Augment(rotate=10, brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1),
    ),
    # Beyond the seed: a square crop with context (no stretching), L1 loss, AdamW with a
    # cosine decay from 1e-3, flips with the point permutation, and box jitter so that
    # detector boxes work too; 160 px halves the CPU cost of an epoch.
    "regress-v2": Recipe(
        name="regress-v2",
        version=1,
        input_size=160,
        margin=0.2,
        square=True,
        loss="l1",
        optimizer="adamw",
        lr=1e-3,
        weight_decay=1e-4,
        batch_size=32,
        epochs=60,
        schedule="cosine",
        augment=Augment(rotate=15, brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1, flip=0.5, box_scale=0.1, box_shift=0.05),
    ),
}
# Pixel-in-pixel head (after PIPNet) on regress-v2's backbone, crop and optimiser: the
# 5 x 5 grid of the last feature map scores where each point is and regresses the offset
# within the cell; occlusion patches on top of regress-v2's augmentation; longer.
# Version 2: points are read as the mean over the best cell's neighbourhood (heads.py), in
# validation too, so the epoch kept is chosen on what users get; training is unchanged.
RECIPES["pip"] = replace(
    RECIPES["regress-v2"],
    name="pip",
    version=2,
    head="pip",
    loss="pip",
    readout="neighbours",
    epochs=100,
    augment=replace(RECIPES["regress-v2"].augment, occlude=0.5),
)


# Fine-tuning a trained pip model (train --init FOLDER), optionally with a training-only
# extra source (--extra): a short cosine from a fifth of pip's rate, and the weights'
# moving average (horizon about 200 steps) is what is validated and saved.
RECIPES["pip-ft"] = replace(RECIPES["pip"], name="pip-ft", lr=2e-4, epochs=10, ema=0.995)


# The light model, distilled from the bundled ResNet18 (train --teacher FOLDER): MobileNetV2 at
# pip's crop and head, from scratch. Every augmented view is labelled by the teacher, which sees
# it before colour jitter and occlusion (the student learns to see through them). Never mirrored:
# the teacher's offsets are fitted to unmirrored faces (refit.py), and 300-W's points are not
# mirror-symmetric. No moving average of the weights: from scratch, the weights move too fast for
# the averaged batch-norm statistics to fit the averaged weights (at 0.995 the average read
# validation faces at 58 % NME after 7 epochs, the plain weights at 6.6 %).
RECIPES["lite-distil"] = replace(
    RECIPES["pip"],
    name="lite-distil",
    version=1,
    arch="mobilenet_v2",
    epochs=16,
    distil=0.5,
    augment=replace(RECIPES["pip"].augment, flip=0.0),
)


# Fine-tuning a distilled student without the teacher in the loop: 300-W's faces learn their
# ground truth alone, and the extra faces the teacher's points read once per face at their
# labelled box and one refining pass (``python -m landmarks relabel --model full``), moved with
# every augmented view; the teacher's reading of each jittered view is not learnt.
RECIPES["lite-ft"] = replace(RECIPES["lite-distil"], name="lite-ft", distil=0.0)


# earlier names, as older runs and model folders record them
RENAMED = {"pip-v1": "pip"}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[RENAMED.get(name, name)]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None
