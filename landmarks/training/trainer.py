"""Training loop: data on the device, batched augmentation, bf16, resumable, DDP-ready.

Run under ``torchrun --nproc_per_node=N`` and each process trains on its share of
every batch (DistributedDataParallel); only rank 0 validates, logs and saves.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..core.errors import ArgumentError
from ..data import augment as A
from ..data.annotations import DatasetError, read_annotations, split_train_val
from ..data.training_faces import FaceTensors, load_faces
from ..hub.publish import EARLIER, INITIAL_WEIGHTS, TEACHER, TRAINED_ON, TRAINED_ON_ALL, model_name, source_name
from ..model.folder import ModelError, load_folder, named
from ..model.network import LandmarkNet
from .recipes import Recipe, get_recipe
from .run_folder import BEST, LAST, resume, save_checkpoint, save_model_atomically, write_logs
from .validation import validate


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
    lr: float | None = None  # default: the recipe's
    precision: str = "auto"  # "bf16", "fp32", or "auto": chosen by the hardware (choose_precision)
    compile: bool = False  # torch.compile the training forward (pays off on GPUs, after a warm-up)
    progress: bool = True
    init: str | None = None  # a model folder to start from (fine-tuning); its head and crop must be the recipe's (any input size)
    extra: str | None = None  # training-only faces (annotation file, or a folder with labels.xml): never validated on
    extra_ratio: float = 1.0  # extra faces drawn each epoch, as a fraction of the main training faces
    # the final model: train on the validation split too, for the epoch count an earlier run's
    # validation picked; the last epoch is saved, and its validation NME is a training-fit figure
    all_faces: bool = False
    teacher: str | None = None  # a model folder whose points the recipe distils (recipes with ``distil``)


PRECISIONS = ("auto", "bf16", "fp32")


def choose_precision(device: torch.device, requested: str) -> tuple[str, str]:
    """(precision, why), decided from what the hardware computes natively, never from a timing:
    an 8-image timing of the same code on one Xeon with native bf16 said 1.8x and then 1.0x
    seconds apart, so a user's precision flipped with noise.  Native bf16 (AVX512-BF16 or AMX)
    trained ResNet18 2.4x faster than fp32 on such a Xeon; emulated bf16 was 13x slower than
    fp32 on an AMD EPYC with AVX2 (1.0 against 13.4 images/s at 160 px)."""
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
    from ..runtime.hardware import cpu_info, cpu_line

    if not cpu_info()["bf16"]:
        return "fp32", f"this CPU has no native bf16, so bf16 would be emulated and slow: {cpu_line()}"
    return "bf16", f"this CPU computes bf16 natively (AVX512-BF16 or AMX): {cpu_line()}"


def _train_file(data: str, name: str = "labels_train.xml") -> Path:
    p = Path(data)
    if p.is_dir():
        xml = p / name
        if not xml.is_file():
            raise DatasetError(f"{p}: no {name} in this folder")
        return xml
    if not p.exists():
        raise DatasetError(f"{p}: dataset path not found")
    return p


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        recipe = get_recipe(cfg.recipe)
        overrides = {k: v for k, v in (("batch_size", cfg.batch_size), ("input_size", cfg.input_size), ("epochs", cfg.epochs),
                                        ("lr", cfg.lr)) if v}
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
        self.precision, self.precision_why = choose_precision(self.device, cfg.precision)
        self.amp = dict(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        self.ema = None  # the weights' moving average, made by run() when the recipe has one
        if bool(self.recipe.distil) != bool(cfg.teacher):
            raise ValueError(f"recipe {self.recipe.name} learns from a teacher: give teacher, a model folder or "
                             f"a bundled model's name (full)" if self.recipe.distil else
                             f"teacher {cfg.teacher}: recipe {self.recipe.name} does not distil (lite-distil does)")
        self.teacher = None  # crop -> points of the teacher model, loaded by run()
        self.teacher_seconds = 0.0

    # ---- data -------------------------------------------------------------
    def load_data(self) -> tuple[FaceTensors, FaceTensors, FaceTensors | None]:
        """(training faces, validation faces, extra training-only faces or None)."""
        cfg = self.cfg
        records = read_annotations(_train_file(cfg.data))
        if cfg.limit:
            records = records[: cfg.limit]
        train, val = split_train_val(records, self.recipe.val_fraction, self.recipe.seed)
        if len(val) == 0 or len(train) < 2:
            raise DatasetError(f"{cfg.data}: {len(records)} faces are too few for a training and a validation split")
        if cfg.all_faces:
            train = train + val
        show = cfg.progress and self.main
        extra = None
        if cfg.extra:
            more = read_annotations(_train_file(cfg.extra, "labels.xml"))
            extra = load_faces(more[: cfg.limit] if cfg.limit else more, show).to(self.device)
        return load_faces(train, show).to(self.device), load_faces(val, show).to(self.device), extra

    def epoch_order(self, n_train: int, n_extra: int, gen) -> torch.Tensor:
        """Indices into training faces followed by extra faces: every training face once and
        ``extra_ratio`` as many extra faces drawn afresh each epoch, shuffled together."""
        order = torch.randperm(n_train, generator=gen, device=self.device)
        if n_extra:
            k = min(n_extra, round(self.cfg.extra_ratio * n_train))
            drawn = n_train + torch.randperm(n_extra, generator=gen, device=self.device)[:k]
            both = torch.cat([order, drawn])
            order = both[torch.randperm(len(both), generator=gen, device=self.device)]
        return order

    def sources(self) -> list[dict]:
        """What the model was trained on, by folder name (no local paths), for its config and card."""
        out = [{"name": source_name(self.cfg.data), "role": TRAINED_ON_ALL if self.cfg.all_faces else TRAINED_ON}]
        if self.cfg.extra:
            out.append({"name": source_name(self.cfg.extra), "role": f"extra, training only, {self.cfg.extra_ratio:g} per training face and epoch"})
        if self.cfg.teacher:
            out.append({"name": model_name(self.cfg.teacher), "role": TEACHER})
        if self.cfg.init:
            out.append({"name": model_name(self.cfg.init), "role": INITIAL_WEIGHTS})
            # what the initial weights were trained on, so a chain of runs keeps its whole story
            config = Path(self.cfg.init) / "config.json"
            earlier = json.loads(config.read_text()).get("training_data") or [] if config.is_file() else []
            out += [{**s, "role": EARLIER + s.get("role", "?")} for s in earlier]
        return out

    def batch(self, faces: FaceTensors, idx: torch.Tensor, aug: A.Augment, gen=None, teacher=None):
        # the spec the model stores: inference crops the same way
        x, targets, mats, taught = A.network_batch(faces.images[idx], faces.points[idx], self.recipe.preprocess, aug, gen, teacher)
        return x.contiguous(memory_format=torch.channels_last), targets, mats, taught

    def load_teacher(self):
        """The teacher as a function of a network-input batch, giving its points in crop units.
        On a CPU its int8 twin runs when it passes its check here (about three times PyTorch's speed)."""
        from ..runtime.runners import make_runner

        try:
            loaded = load_folder(named(self.cfg.teacher), device=self.device)
            runner = make_runner(loaded, self.device)
        except ModelError as e:
            raise ValueError(f"teacher: {e}") from None
        if loaded.spec.preprocess != self.recipe.preprocess:
            raise ValueError(f"teacher {self.cfg.teacher} crops faces as {loaded.spec.preprocess}, recipe "
                             f"{self.recipe.name} as {self.recipe.preprocess}: a teacher's points fit its own crop")
        if self.main:
            tqdm.write(f"teacher: {self.cfg.teacher} on {runner.name} ({runner.note})")

        def teach(x: torch.Tensor) -> torch.Tensor:
            started = time.perf_counter()
            points, _ = runner(x.float().cpu().numpy())
            self.teacher_seconds += time.perf_counter() - started
            return torch.from_numpy(points).to(self.device)

        return teach

    def model_and_optimizer(self):
        r = self.recipe
        model = LandmarkNet.from_recipe(r, training_data=self.sources())
        if self.cfg.init:
            self.load_initial_weights(model)
        model = model.to(self.device).to(memory_format=torch.channels_last)
        optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
        if r.optimizer not in optimizers:
            raise ValueError(f"unknown optimizer {r.optimizer!r}; known: {', '.join(optimizers)}")
        return model, optimizers[r.optimizer](model.parameters(), lr=r.lr, weight_decay=r.weight_decay)

    def load_initial_weights(self, model: LandmarkNet) -> None:
        from ..model.folder import ModelError, load_network

        try:
            start = load_network(Path(self.cfg.init))
        except ModelError as e:
            raise ArgumentError("init", str(e)) from None
        # the network is fully convolutional: weights trained at one input size start another
        same_crop = dataclasses.replace(start.preprocess, size=model.preprocess.size) == model.preprocess
        if start.head.name != model.head.name or not same_crop:
            raise ArgumentError("init", f"{self.cfg.init} has another head or crop than recipe {self.recipe.name} "
                             f"({start.head.name}, {start.preprocess} against {model.head.name}, {model.preprocess})")
        model.load_state_dict(start.state_dict())

    def step(self, model, opt, loss_fn, faces: FaceTensors, idx: torch.Tensor, gen) -> float:
        """One optimisation step on faces[idx]: augment, forward, backward, update."""
        x, targets, _, taught = self.batch(faces, idx, self.recipe.augment, gen, self.teacher)
        with torch.autocast(**self.amp):
            pred = model(x).float()
        if taught is None:
            loss = loss_fn(pred, targets)
        else:  # the teacher's points, and the ground truth where the faces have one (not the extra source's)
            w, truth = self.recipe.distil, idx < self.n_train
            loss = w * loss_fn(pred, taught)
            if truth.any():
                loss = loss + (1 - w) * loss_fn(pred[truth], targets[truth])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if self.ema is not None:
            self.ema.update_parameters(model)
        return loss.item()

    # ---- loop -------------------------------------------------------------
    def run(self) -> dict:
        r, cfg = self.recipe, self.cfg
        torch.manual_seed(r.seed)
        if self.main:
            tqdm.write(f"precision: {self.precision} ({self.precision_why})")
        self.out.mkdir(parents=True, exist_ok=True)
        train, val, extra = self.load_data()
        self.n_train, self.n_extra = len(train), len(extra) if extra is not None else 0
        if extra is not None:  # one tensor; epoch_order draws from the part after n_train
            train = FaceTensors(torch.cat([train.images, extra.images]), torch.cat([train.points, extra.points]))
        model, opt = self.model_and_optimizer()
        if cfg.teacher:
            self.teacher = self.load_teacher()
        # the averaged weights are the ones validated and saved (plain weights when the recipe has no EMA)
        self.ema = (torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(r.ema), use_buffers=True) if r.ema else None)
        judged = self.ema.module if self.ema is not None else model
        start_epoch, history, best = self.resume(model, opt) if cfg.resume else (1, [], math.inf)
        net = torch.nn.parallel.DistributedDataParallel(model) if self.distributed else model
        if cfg.compile:
            net = torch.compile(net)
        gen = torch.Generator(device=self.device)
        for epoch in range(start_epoch, r.epochs + 1):
            row = self.train_epoch(net, opt, model.loss, train, epoch, gen)  # the head's loss: DDP's wrapper has none
            if not self.main:
                continue
            val_loss, nmes = self.validate(judged, val, model.loss)
            started, speed = row.pop("started"), row.pop("img_per_s")  # the log's columns, in their order
            row.update(val_loss=val_loss, val_nme=round(100 * float(nmes.mean()), 4), img_per_s=speed,
                       seconds=round(time.time() - started, 1))
            history.append(row)
            improved = row["val_nme"] < best or cfg.all_faces  # no held-out faces to choose by: keep the last
            if improved:
                best = row["val_nme"]
                save_model_atomically(judged, self.out / BEST)
            write_logs(self.out, self.recipe, history)
            self.save_checkpoint(model, opt, epoch, history, best)
            tqdm.write(
                f"epoch {epoch}: train {row['train_loss']:.5f}  val {row['val_loss']:.5f}  val NME {row['val_nme']:.2f}%"
                f"{'  (best)' if improved else ''}  {row['img_per_s']} img/s"
                + (f" (teacher {100 * row['teacher_share']:.0f} % of the time)" if "teacher_share" in row else "")
            )
        if self.distributed:
            dist.destroy_process_group()
        return {"best_val_nme": best, "history": history, "best_dir": str(self.out / BEST), "main": self.main}

    def train_epoch(self, net, opt, loss_fn, train: FaceTensors, epoch: int, gen) -> dict:
        """One pass over the epoch's faces; the log row so far (validation fills the rest)."""
        r = self.recipe
        gen.manual_seed(r.seed * 1000 + epoch)  # every rank draws the same order, then takes its share
        lr = self.lr_at(epoch)
        for g in opt.param_groups:
            g["lr"] = lr
        started = time.time()
        net.train()
        order = self.epoch_order(self.n_train, self.n_extra, gen)
        total, seen = 0.0, 0
        bar = tqdm(range(max(1, len(order) // r.batch_size)), desc=f"epoch {epoch}/{r.epochs}",
                   disable=not (self.cfg.progress and self.main))
        for step in bar:
            idx = order[step * r.batch_size : (step + 1) * r.batch_size][self.rank :: self.world]
            total += self.step(net, opt, loss_fn, train, idx, gen) * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.5f}")
        row = {"epoch": epoch, "lr": lr, "train_loss": total / seen, "started": started,
               "img_per_s": round(seen * self.world / (time.time() - started), 1)}
        if self.teacher is not None:  # what labelling every view costs, to weigh against a fixed labelled pool
            row["teacher_share"] = round(self.teacher_seconds / (time.time() - started), 3)
            self.teacher_seconds = 0.0
        return row

    def checkpoint_path(self) -> Path:
        return self.out / LAST

    def save_checkpoint(self, model, opt, epoch: int, history: list[dict], best: float) -> None:
        save_checkpoint(self.checkpoint_path(), model, opt, self.ema, epoch, history, best, self.recipe, self.sources())

    def resume(self, model, opt) -> tuple[int, list[dict], float]:
        """Weights, optimiser and averages from ``last.pt``: (next epoch, history, best val NME)."""
        return resume(self.checkpoint_path(), model, opt, self.ema, self.recipe, self.sources(), self.device)

    def validate(self, model, val: FaceTensors, loss_fn) -> tuple[float, np.ndarray]:
        return validate(model, val, loss_fn, lambda faces, idx: self.batch(faces, idx, A.NO_AUGMENT), self.amp,
                        self.recipe.preprocess.size)

    def lr_at(self, epoch: int) -> float:
        r = self.recipe
        if r.schedule == "cosine":
            return 0.5 * r.lr * (1 + math.cos(math.pi * (epoch - 1) / r.epochs))
        return r.lr

def train(cfg: TrainConfig) -> dict:
    return Trainer(cfg).run()

