"""Named, versioned training recipes: everything that defines a training run."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .augment import Augment


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    input_size: int = 224
    in_channels: int = 1
    margin: float = 0.0  # crop = face box grown by 1 + margin
    square: bool = False  # square crop (False stretches the box to the input, as the seed did)
    loss: str = "mse"
    lr: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 50
    schedule: str = "constant"  # or "cosine"
    augment: Augment = field(default_factory=Augment)
    val_fraction: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


RECIPES = {
    # The seed tutorial: grayscale 224 crop of the face box, ResNet18 -> 136 numbers,
    # MSE, Adam 1e-4, batch 64, colour jitter 0.3/0.3/0.3/0.1 and rotation +-10 deg.
    "tutorial": Recipe(
        name="tutorial",
        version=1,
        augment=Augment(rotate=10, brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1),
    ),
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None
