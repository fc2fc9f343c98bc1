"""The landmark network: torchvision ResNet18 with a 1-channel stem and one of two heads.

``regress`` (the tutorial's): global pooling and a linear layer to 136 numbers.
``pip`` (pixel-in-pixel, after PIPNet): on the last feature map, an S/32 x S/32
grid, a 1x1 convolution gives per point a score for each cell and the point's x/y
offset from that cell's corner.  The point is read at the best cell; the best
scores give a confidence that the crop holds a face at all.
"""
from __future__ import annotations

import torch
import torchvision
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .data import NUM_POINTS


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

    The constructor arguments are stored in ``config.json`` by ``save_pretrained``:
    they are everything inference needs to crop and normalise a face the same way.
    """

    def __init__(
        self,
        arch: str = "resnet18",
        in_channels: int = 1,
        input_size: int = 224,
        num_points: int = NUM_POINTS,
        margin: float = 0.0,
        square: bool = False,
        mean: float = 0.5,
        std: float = 0.5,
        recipe: str = "tutorial",
        recipe_version: int = 1,
        head: str = "regress",
    ):
        super().__init__()
        if arch != "resnet18":
            raise ValueError(f"unsupported arch {arch!r}")
        if head not in ("regress", "pip"):
            raise ValueError(f"unsupported head {head!r}")
        self.head = head
        self.in_channels, self.input_size, self.num_points = in_channels, input_size, num_points
        self.margin, self.square, self.mean, self.std = margin, square, mean, std
        net = torchvision.models.resnet18(weights=None, num_classes=num_points * 2)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        if head == "pip":
            net.fc = nn.Identity()  # unused parameters would stall DDP
            self.pip = nn.Conv2d(512, 3 * num_points, kernel_size=1)
        self.backbone = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw head output: (B, 68, 2) coordinates, or (B, 3 * 68, G, G) PIP maps."""
        n = self.backbone
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        # the output layer runs in fp32 even under bf16 autocast: bf16 keeps only
        # ~3 significant digits, too coarse for sub-pixel coordinates
        with torch.autocast(x.device.type, enabled=False):
            if self.head == "pip":
                return self.pip(x.float())
            return n.fc(torch.flatten(n.avgpool(x), 1).float()).view(-1, self.num_points, 2)

    def decode(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw output -> points (B, 68, 2) in crop units and confidences (B, 68) in [0, 1]."""
        if self.head == "regress":
            return raw, torch.ones(raw.shape[:2], device=raw.device)
        return decode_pip(raw.float(), self.num_points)

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decode(self(x))

    @classmethod
    def from_recipe(cls, recipe) -> "LandmarkNet":
        return cls(
            in_channels=recipe.in_channels,
            input_size=recipe.input_size,
            margin=recipe.margin,
            square=recipe.square,
            recipe=recipe.name,
            recipe_version=recipe.version,
            head=recipe.head,
        )


def pip_cells(targets: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop-unit points (B, N, 2) -> grid position (B, N, 2) in cells and the cell (B, N, 2)
    holding it (integer, clamped to the grid)."""
    u = (targets + 0.5) * grid
    return u, u.floor().clamp(0, grid - 1)


def decode_pip(raw: torch.Tensor, num_points: int) -> tuple[torch.Tensor, torch.Tensor]:
    b, _, g, _ = raw.shape
    score, off = raw.view(b, 3, num_points, g * g).split([1, 2], dim=1)
    best, cell = score[:, 0].max(dim=2)  # (B, N)
    offset = off.gather(3, cell[:, None, :, None].expand(-1, 2, -1, 1))[..., 0]  # (B, 2, N)
    corner = torch.stack([cell % g, torch.div(cell, g, rounding_mode="floor")], 1).float()
    points = ((corner + offset) / g - 0.5).transpose(1, 2)
    return points, best.clamp(0, 1)
