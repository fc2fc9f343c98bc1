"""The landmark network: a torchvision backbone (``resnet18``, or the light ``mobilenet_v2``)
with a stem for the crop's channels and a head from ``heads.py`` (``regress``: the tutorial's
136 numbers; ``pip``: pixel-in-pixel maps with a confidence) on its last feature map.
"""
from __future__ import annotations

import torch
import torchvision
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from ..core.scheme import NUM_POINTS
from .heads import make_head
from .preprocess import Preprocess

# The backbones, by the name config.json stores. mobilenet_v2 is the light one: its stride-32
# map without the last 1x1 expansion (320 channels), 1.9 M parameters against ResNet18's 11.3 M;
# at 160 px ONNX Runtime ran it in 1.8 ms a face against 9.1 ms (fp32, AMD EPYC, 2 threads).
ARCHS = ("resnet18", "mobilenet_v2")


def _backbone(arch: str, channels: int) -> tuple[nn.Module, int]:
    """(backbone, channels of its last feature map), built without pretrained weights."""
    if arch == "resnet18":
        net = torchvision.models.resnet18(weights=None)
        net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        net.fc = nn.Identity()  # the head does the rest; unused parameters would stall DDP
        return net, 512
    if arch == "mobilenet_v2":
        features = torchvision.models.mobilenet_v2(weights=None).features[:-1]
        stem = features[0][0]
        features[0][0] = nn.Conv2d(channels, stem.out_channels, kernel_size=3, stride=2, padding=1, bias=False)
        return features, 320
    raise ValueError(f"unsupported arch {arch!r}; known: {', '.join(ARCHS)}")


class LandmarkNet(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="landmarks",
    tags=["face-landmarks", "face-alignment", "300-W", "68-points"],
    license="other",
):
    """``predict(x)`` gives (B, 68, 2) point offsets from the crop centre in crop units,
    and a per-point confidence (B, 68); ``forward`` gives the head's raw output, the
    thing the training loss sees.

    The constructor arguments are stored in ``config.json`` by ``save_pretrained``; its
    ``preprocess`` is everything inference needs to crop and normalise a face the same way.
    """

    def __init__(
        self,
        arch: str = "resnet18",
        num_points: int = NUM_POINTS,
        preprocess: dict | None = None,  # a Preprocess as a dict (see preprocess.py)
        recipe: str = "tutorial",
        recipe_version: int = 1,
        head: str = "regress",
        loss: str | None = None,  # the head's training loss (its default when None); unused at inference
        readout: str | None = None,  # how the pip head reads points off its maps (heads.py; its default when None)
        training_data: list | None = None,  # [{"name", "role"}] of each data source, for the model card
        min_score: float | None = None,  # a crop scored lower is not a face (None: FaceLandmarker's default)
        crop_model: str | None = None,  # a bundled model that finds this one's crops in detector boxes (FaceLandmarker)
        extra_refine: int = 0,  # re-cropping passes this model needs beyond its detector's (FaceLandmarker)
        smoothing: dict | None = None,  # {"motion", "shape"}: this model's FaceFilter parameters (None: the defaults)
    ):
        super().__init__()
        self.arch, self.num_points, self.min_score = arch, num_points, min_score
        self.crop_model, self.extra_refine, self.smoothing = crop_model, extra_refine, smoothing
        self.preprocess = Preprocess(**(preprocess or {}))
        self.backbone, channels = _backbone(arch, self.preprocess.channels)
        self.head = make_head(head, channels, num_points, loss, readout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's last feature map (B, C, G, G): what the head sees."""
        n = self.backbone
        if self.arch != "resnet18":
            return n(x)
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The head's raw output: what its loss sees."""
        x = self.features(x)
        # the head runs in fp32 even under bf16 autocast: bf16 keeps only ~3 significant
        # digits, too coarse for sub-pixel coordinates
        with torch.autocast(x.device.type, enabled=False):
            return self.head(x.float())

    def decode(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw output -> points (B, 68, 2) in crop units and confidences (B, 68) in [0, 1]."""
        return self.head.decode(raw)

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decode(self(x))

    def loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.head.loss(raw, targets)

    @classmethod
    def from_recipe(cls, recipe, training_data: list | None = None) -> "LandmarkNet":
        return cls(
            arch=recipe.arch,
            training_data=training_data,
            preprocess=recipe.preprocess.to_dict(),
            recipe=recipe.name,
            recipe_version=recipe.version,
            head=recipe.head,
            loss=recipe.loss,
            readout=recipe.readout,
        )
