"""Training images/s of a recipe, end to end (augmentation + forward + backward + update).

    python benchmarks/train_throughput.py [--data ../shared/data/ibug300w] [--recipe pip] [--steps 10]
        [--batch-size N] [--compile] [--precision auto|bf16|fp32|both]

Runs on the device it finds (CUDA when present, else CPU) with the trainer's own
step, in the precision the trainer would choose there (``auto``, printed with the
reason) or the one(s) asked for, one table row each.  On a GPU, try
``--batch-size 256 --compile``: small batches leave an H100 idle.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from landmarks.runtime.hardware import cpu_line  # noqa: E402
from landmarks.training.trainer import TrainConfig, Trainer  # noqa: E402


def measure(trainer: Trainer, faces, steps: int, warmup: int) -> float:
    model, opt = trainer.model_and_optimizer()
    model.train()
    loss_fn, bs = model.loss, trainer.recipe.batch_size
    if trainer.cfg.compile:
        model = torch.compile(model)
    gen = torch.Generator(device=trainer.device).manual_seed(0)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    for i in range(warmup + steps):
        if i == warmup:
            sync()
            t0 = time.perf_counter()
        idx = torch.randint(0, len(faces), (bs,), generator=gen, device=trainer.device)
        trainer.step(model, opt, loss_fn, faces, idx, gen)
    sync()
    return steps * bs / (time.perf_counter() - t0)


def main() -> None:
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "ibug300w"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(default_data))
    p.add_argument("--recipe", default="pip")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--device")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--faces", type=int, default=512, help="faces loaded onto the device")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32", "both"], default="auto")
    a = p.parse_args()
    print(f"CPU: {cpu_line()}, {torch.get_num_threads()} threads\n")
    print("| device | recipe | precision | batch | input | images/s |\n|---|---|---|---|---|---|")
    for precision in ("bf16", "fp32") if a.precision == "both" else (a.precision,):
        cfg = TrainConfig(data=a.data, out="/tmp/unused", recipe=a.recipe, device=a.device, limit=a.faces,
                          precision=precision, batch_size=a.batch_size, compile=a.compile, progress=False)
        trainer = Trainer(cfg)
        faces, _ = trainer.load_data()
        dev = trainer.device
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
        r = trainer.recipe
        ips = measure(trainer, faces, a.steps, a.warmup)
        chosen = trainer.precision + (f" ({trainer.precision_why})" if precision == "auto" else "")
        print(f"| {name} | {r.name} | {chosen} | {r.batch_size} | {r.input_size} | {ips:.1f} |", flush=True)


if __name__ == "__main__":
    main()
