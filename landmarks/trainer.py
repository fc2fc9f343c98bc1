"""Training loop: data on the device, batched augmentation, bf16, resumable, DDP-ready.

Run under ``torchrun --nproc_per_node=N`` and each process trains on its share of
every batch (DistributedDataParallel); only rank 0 validates, logs and saves.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from . import augment as A
from .data import DatasetError, read_annotations, split_train_val
from .dataset import FaceTensors, load_faces
from .hub import model_card
from .metrics import nme_per_face
from .network import LandmarkNet
from .plots import plot_training
from .recipes import Recipe, get_recipe


@dataclass
class TrainConfig:
    data: str  # dataset folder (with labels_train.xml) or an annotation file
    out: str
    recipe: str = "tutorial"
    epochs: int | None = None  # default: the recipe's
    device: str | None = None  # default: cuda when present
    resume: bool = False
    limit: int | None = None  # use only the first N faces (smoke tests)
    batch_size: int | None = None
    input_size: int | None = None
    precision: str = "auto"  # "bf16", "fp32", or "auto": chosen by the hardware (choose_precision)
    compile: bool = False  # torch.compile the training forward (pays off on GPUs, after a warm-up)
    progress: bool = True


PRECISIONS = ("auto", "bf16", "fp32")


def _step_seconds(model, x, bf16: bool, steps: int = 2) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    for i in range(steps + 1):  # the first one warms up
        if i == 1:
            t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(x).float().square().mean()
        opt.zero_grad()
        loss.backward()
    return (time.perf_counter() - t0) / steps


def choose_precision(device: torch.device, requested: str, recipe: Recipe) -> tuple[str, str]:
    """(precision, why).  bf16 where the hardware computes it natively and it is faster;
    elsewhere it is emulated: 13x slower than fp32 on an AMD EPYC with AVX2 (1.0 against
    13.4 images/s for a ResNet18 step at 160 px), while native bf16 was 2.4x faster on an
    AVX-512 machine with bf16."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    if requested != "auto":
        return requested, "as asked"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"{torch.cuda.get_device_name(device)} computes bf16 natively"
        return "fp32", f"{torch.cuda.get_device_name(device)} has no bf16"
    if device.type != "cpu":
        return "fp32", f"no bf16 measurements on {device.type}"
    from .hardware import cpu_info, cpu_line

    if not cpu_info()["bf16"]:
        return "fp32", f"this CPU has no native bf16, so bf16 would be emulated and slow: {cpu_line()}"
    # native bf16: take it only if it is faster here, on the recipe's network and input
    model = LandmarkNet.from_recipe(recipe).train()
    p = recipe.preprocess
    x = torch.randn(8, p.channels, p.size, p.size)
    fp32, bf16 = _step_seconds(model, x, False), _step_seconds(model, x, True)
    ratio = fp32 / bf16
    return ("bf16" if ratio > 1.05 else "fp32"), f"native bf16 on this CPU, measured {ratio:.1f}x the speed of fp32: {cpu_line()}"


def _train_file(data: str) -> Path:
    p = Path(data)
    if p.is_dir():
        xml = p / "labels_train.xml"
        if not xml.is_file():
            raise DatasetError(f"{p}: no labels_train.xml in this folder (is --data the 300-W folder?)")
        return xml
    if not p.exists():
        raise DatasetError(f"{p}: dataset path not found")
    return p


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint intact


def _save_model_atomically(model: LandmarkNet, folder: Path) -> None:
    """save_pretrained into a fresh folder, then swap it in: a kill never leaves half a model."""
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    model_card(tmp).save(tmp / "README.md")  # the real card, not the mixin's "More Information Needed"
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        recipe = get_recipe(cfg.recipe)
        overrides = {k: v for k, v in (("batch_size", cfg.batch_size), ("input_size", cfg.input_size), ("epochs", cfg.epochs)) if v}
        self.recipe: Recipe = dataclasses.replace(recipe, **overrides)
        self.out = Path(cfg.out)
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
        else:
            self.rank, self.world = 0, 1
        if cfg.device:
            self.device = torch.device(cfg.device)
        elif torch.cuda.is_available():
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        else:
            self.device = torch.device("cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.main = self.rank == 0
        self.precision, self.precision_why = choose_precision(self.device, cfg.precision, self.recipe)
        self.amp = dict(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    # ---- data -------------------------------------------------------------
    def load_data(self) -> tuple[FaceTensors, FaceTensors]:
        records = read_annotations(_train_file(self.cfg.data))
        if self.cfg.limit:
            records = records[: self.cfg.limit]
        train, val = split_train_val(records, self.recipe.val_fraction, self.recipe.seed)
        if len(val) == 0 or len(train) < 2:
            raise DatasetError(f"{self.cfg.data}: {len(records)} faces are too few for a training and a validation split")
        show = self.cfg.progress and self.main
        return load_faces(train, show).to(self.device), load_faces(val, show).to(self.device)

    def batch(self, faces: FaceTensors, idx: torch.Tensor, aug: A.Augment, gen=None):
        p = self.recipe.preprocess  # the spec the model stores: inference crops the same way
        mats, targets = A.crop_geometry(faces.points[idx], p.size, p.margin, p.square, aug, gen)
        x = A.warp(faces.images[idx], mats, p.size)
        x = A.color_jitter(x, aug, gen)
        x = A.occlude(x, aug.occlude, gen)
        x = A.to_network_input(x, p.channels, p.mean, p.std).contiguous(memory_format=torch.channels_last)
        return x, targets, mats

    def model_and_optimizer(self):
        r = self.recipe
        model = LandmarkNet.from_recipe(r).to(self.device).to(memory_format=torch.channels_last)
        optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
        if r.optimizer not in optimizers:
            raise ValueError(f"unknown optimizer {r.optimizer!r}; known: {', '.join(optimizers)}")
        return model, optimizers[r.optimizer](model.parameters(), lr=r.lr, weight_decay=r.weight_decay)

    def step(self, model, opt, loss_fn, faces: FaceTensors, idx: torch.Tensor, gen) -> float:
        """One optimisation step on faces[idx]: augment, forward, backward, update."""
        x, targets, _ = self.batch(faces, idx, self.recipe.augment, gen)
        with torch.autocast(**self.amp):
            pred = model(x)
        loss = loss_fn(pred.float(), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    # ---- loop -------------------------------------------------------------
    def run(self) -> dict:
        r, cfg = self.recipe, self.cfg
        torch.manual_seed(r.seed)
        if self.main:
            tqdm.write(f"precision: {self.precision} ({self.precision_why})")
        self.out.mkdir(parents=True, exist_ok=True)
        train, val = self.load_data()
        model, opt = self.model_and_optimizer()
        loss_fn = model.loss  # the head's (model, not the DDP wrapper: it has no parameters)
        steps_per_epoch = max(1, len(train) // (r.batch_size))
        start_epoch, history, best = 1, [], math.inf
        ckpt_path = self.out / "last.pt"
        if cfg.resume:
            if not ckpt_path.is_file():
                raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
            try:
                # weights_only: tensors, numbers, strings, lists and dicts; a planted pickle runs nothing
                ckpt = torch.load(ckpt_path, map_location=self.device, weights_only=True)
            except Exception as e:
                first = (str(e).strip().splitlines() or [""])[0][:160]
                raise ValueError(f"--resume: {ckpt_path} is not a readable checkpoint ({type(e).__name__}: {first})") from None
            # more epochs is fine; fields added to Recipe after the checkpoint default to the old behaviour
            now = r.to_dict()
            saved = {**now, **ckpt["recipe"], "epochs": r.epochs}
            saved["augment"] = {**now["augment"], **ckpt["recipe"].get("augment", {})}
            if saved != now:
                raise ValueError(f"--resume: {ckpt_path} was trained with another recipe or settings: {ckpt['recipe']}")
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            start_epoch, history, best = ckpt["epoch"] + 1, ckpt["history"], ckpt["best_nme"]
            torch.set_rng_state(ckpt["rng"])
        ddp = torch.nn.parallel.DistributedDataParallel(model) if self.distributed else model
        if cfg.compile:
            ddp = torch.compile(ddp)
        gen = torch.Generator(device=self.device)
        for epoch in range(start_epoch, r.epochs + 1):
            gen.manual_seed(r.seed * 1000 + epoch)  # every rank draws the same order, then takes its share
            lr = self.lr_at(epoch)
            for g in opt.param_groups:
                g["lr"] = lr
            t0 = time.time()
            ddp.train()
            order = torch.randperm(len(train), generator=gen, device=self.device)
            total, seen = 0.0, 0
            bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{r.epochs}", disable=not (cfg.progress and self.main))
            for step in bar:
                idx = order[step * r.batch_size : (step + 1) * r.batch_size][self.rank :: self.world]
                total += self.step(ddp, opt, loss_fn, train, idx, gen) * len(idx)
                seen += len(idx)
                bar.set_postfix(loss=f"{total / seen:.5f}")
            train_time = time.time() - t0
            if not self.main:
                continue
            val_loss, nmes = self.validate(model, val, loss_fn)
            row = {
                "epoch": epoch,
                "lr": lr,
                "train_loss": total / seen,
                "val_loss": val_loss,
                "val_nme": round(100 * float(nmes.mean()), 4),
                "img_per_s": round(seen * self.world / train_time, 1),
                "seconds": round(time.time() - t0, 1),
            }
            history.append(row)
            improved = row["val_nme"] < best
            if improved:
                best = row["val_nme"]
                _save_model_atomically(model, self.out / "best")
            self.write_logs(history)
            _atomic_save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "epoch": epoch,
                    "history": history,
                    "best_nme": best,
                    "recipe": r.to_dict(),
                    "rng": torch.get_rng_state(),
                },
                ckpt_path,
            )
            tqdm.write(
                f"epoch {epoch}: train {row['train_loss']:.5f}  val {val_loss:.5f}  val NME {row['val_nme']:.2f}%"
                f"{'  (best)' if improved else ''}  {row['img_per_s']} img/s"
            )
        if self.distributed:
            dist.destroy_process_group()
        return {"best_val_nme": best, "history": history, "best_dir": str(self.out / "best"), "main": self.main}

    def lr_at(self, epoch: int) -> float:
        r = self.recipe
        if r.schedule == "cosine":
            return 0.5 * r.lr * (1 + math.cos(math.pi * (epoch - 1) / r.epochs))
        return r.lr

    @torch.no_grad()
    def validate(self, model, val: FaceTensors, loss_fn) -> tuple[float, np.ndarray]:
        model.eval()
        losses, nmes = [], []
        for start in range(0, len(val), 128):
            idx = torch.arange(start, min(start + 128, len(val)), device=self.device)
            x, targets, mats = self.batch(val, idx, A.NO_AUGMENT)
            with torch.autocast(**self.amp):
                pred = model(x)
            losses.append(loss_fn(pred.float(), targets).item() * len(idx))
            # back to source pixels: the crop is a similarity of the image, so NME is unchanged
            size = self.recipe.preprocess.size
            src = targets_to_source(model.decode(pred.float())[0], mats, size)
            nmes.append(nme_per_face(src.cpu().numpy(), val.points[idx].cpu().numpy()))
        return sum(losses) / len(val), np.concatenate(nmes)

    def write_logs(self, history: list[dict]) -> None:
        with open(self.out / "log.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(history[0]))
            w.writeheader()
            w.writerows(history)
        (self.out / "log.json").write_text(json.dumps({"recipe": self.recipe.to_dict(), "epochs": history}, indent=1))
        plot_training(history, self.out / "curves.png")


def targets_to_source(targets: torch.Tensor, matrices: torch.Tensor, size: int) -> torch.Tensor:
    """Network outputs (B, 68, 2) -> source pixels through the crop maps (B, 2, 3)."""
    uv = targets * size + (size - 1) / 2
    return uv @ matrices[:, :, :2].transpose(1, 2) + matrices[:, None, :, 2]


def train(cfg: TrainConfig) -> dict:
    return Trainer(cfg).run()

