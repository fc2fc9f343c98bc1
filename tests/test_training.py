import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from landmarks.core.errors import ArgumentError
from landmarks.model.folder import load_network
from landmarks.training.trainer import TrainConfig, train


def tiny(data_dir, out, **kw):
    # 120 faces at 64 px: a few seconds an epoch on two CPU cores
    base = dict(data=str(data_dir), out=str(out), limit=120, batch_size=16, input_size=64, epochs=3, progress=False)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, train(tiny(data_dir, out))


def test_tiny_cpu_training_lowers_the_loss(run):
    _, result = run
    h = result["history"]
    assert len(h) == 3
    assert h[-1]["train_loss"] < 0.5 * h[0]["train_loss"]
    assert h[-1]["val_loss"] < h[0]["val_loss"]


def test_run_folder_has_logs_curves_and_best_model(run):
    out, result = run
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert json.loads((out / "log.json").read_text())["recipe"]["name"] == "tutorial"
    assert (out / "curves.png").stat().st_size > 10_000
    model = load_network(out / "best")
    assert model.preprocess.size == 64 and not model.training
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["recipe"] == "tutorial" and config["preprocess"]["channels"] == 1
    card = (out / "best" / "README.md").read_text()
    assert "recipe `tutorial`" in card and "More Information Needed" not in card


def test_training_survives_a_kill_and_resumes(data_dir, tmp_path, run):
    import os
    import signal
    import subprocess
    import sys
    import time

    _, full = run
    cmd = [sys.executable, "-m", "train", "--data", str(data_dir), "--out", str(tmp_path), "--limit", "120",
           "--batch-size", "16", "--input-size", "64", "--epochs", "3", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (tmp_path / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up
    proc.wait()
    done = torch.load(tmp_path / "last.pt", weights_only=True)["epoch"]
    assert done in (1, 2)
    resumed = train(tiny(data_dir, tmp_path, resume=True))
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    # same seeds, same data order: the resumed run ends where the uninterrupted one did
    assert resumed["history"][-1]["train_loss"] == pytest.approx(full["history"][-1]["train_loss"], rel=0.05)


def test_final_model_trains_on_all_faces_and_keeps_the_last_epoch(data_dir, tmp_path, run):
    from landmarks.training.trainer import Trainer

    first, _ = run
    cfg = tiny(data_dir, tmp_path, limit=60, epochs=2, all_faces=True, init=str(first / "best"))
    train_faces, val_faces, _ = Trainer(cfg).load_data()
    assert (len(train_faces), len(val_faces)) == (60, 6)  # the validation faces are trained on too
    result = train(cfg)
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    last = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    best = load_network(tmp_path / "best").state_dict()
    assert all(torch.equal(best[k], last[k]) for k in best)  # the last epoch, whatever its NME
    card = (tmp_path / "best" / "README.md").read_text()
    assert "trained on all of them" in card and "model selection on" not in card
    # the initial weights' own data is part of the story
    roles = [s["role"] for s in json.loads((tmp_path / "best" / "config.json").read_text())["training_data"]]
    assert roles == ["training (all faces, the validation split included)", "initial weights",
                     "before fine-tuning: training and validation"]
    assert "fine-tuned from the weights of a tutorial v1 model (resnet18)" in card  # not a local run folder's name


def test_resume_without_checkpoint_is_a_clear_error(data_dir, tmp_path):
    with pytest.raises(ArgumentError, match="^resume: no checkpoint at"):
        train(tiny(data_dir, tmp_path, resume=True))
    # the command line names the flag
    p = subprocess.run([sys.executable, "-m", "train", "--data", str(data_dir), "--out", str(tmp_path), "--resume",
                        "--limit", "16", "--no-progress"],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith("error: --resume: no checkpoint at"), p.stderr


class Planted:
    def __reduce__(self):  # unpickling this would run code: touch a file
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(PLANTED_MARK),))


PLANTED_MARK = "/tmp/landmarks-planted-pickle-ran"


def test_resume_refuses_a_planted_pickle_and_a_truncated_checkpoint(data_dir, tmp_path, run):
    import os
    import subprocess
    import sys

    if os.path.exists(PLANTED_MARK):
        os.remove(PLANTED_MARK)
    torch.save({"epoch": 1, "payload": Planted()}, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        train(tiny(data_dir, tmp_path, resume=True))
    assert not os.path.exists(PLANTED_MARK)
    good = (run[0] / "last.pt").read_bytes()
    (tmp_path / "last.pt").write_bytes(good[: len(good) // 2])
    p = subprocess.run([sys.executable, "-m", "train", "--data", str(data_dir), "--out", str(tmp_path), "--limit", "120",
                        "--batch-size", "16", "--input-size", "64", "--epochs", "3", "--no-progress", "--resume"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "not a readable checkpoint" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_precision_is_chosen_by_the_hardware(data_dir, tmp_path, capsys, monkeypatch):
    """The choice follows the CPU's capabilities alone: the same answer every time, whatever
    the machine's load (a timed choice flipped between bf16 and fp32 seconds apart)."""
    from landmarks.runtime import hardware
    from landmarks.training.trainer import choose_precision

    cpu = torch.device("cpu")
    real = hardware.cpu_info()
    for native in (True, False):
        monkeypatch.setattr(hardware, "cpu_info", lambda native=native: {**real, "bf16": native})
        answers = {choose_precision(cpu, "auto") for _ in range(3)}
        assert len(answers) == 1
        precision, why = answers.pop()
        assert (precision, "natively" in why) == (("bf16", True) if native else ("fp32", False))
    monkeypatch.setattr(hardware, "cpu_info", lambda: real)
    assert choose_precision(cpu, "bf16") == ("bf16", "as asked")
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision(cpu, "fp8")
    precision, why = choose_precision(cpu, "auto")
    assert precision == ("bf16" if real["bf16"] else "fp32")
    train(tiny(data_dir, tmp_path, epochs=1, limit=40, progress=True))
    assert f"precision: {precision} ({why})" in capsys.readouterr().out


def test_training_command_reports_bad_data_path(tmp_path):
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert "dataset path not found" in p.stderr and "Traceback" not in p.stderr


def test_runs_under_torchrun_with_ddp(data_dir, tmp_path):
    """Two processes (gloo on CPU, NCCL on GPUs): each trains on its share of every batch."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", "-m", "train",
           "--data", str(data_dir), "--out", str(tmp_path), "--limit", "80", "--batch-size", "16",
           "--input-size", "64", "--epochs", "2", "--no-progress", "--device", "cpu"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]  # logged once, by rank 0
    assert load_network(tmp_path / "best").preprocess.size == 64


def test_compiled_training_runs(data_dir, tmp_path):
    """--compile (torch.compile, meant for GPUs) trains and saves like the eager path."""
    result = train(tiny(data_dir, tmp_path, recipe="pip", epochs=1, limit=64, compile=True))
    assert result["history"][0]["epoch"] == 1 and load_network(tmp_path / "best").head.name == "pip"


def test_fine_tuning_with_extra_training_only_faces(data_dir, tmp_path, test_records):
    """--init starts from a trained model, --extra
    faces are trained on and never validated on, the sources are in the config and the card,
    the averaged weights are what is saved, and a resume on other data is refused."""
    from landmarks.data.annotations import write_xml
    from landmarks.model.folder import BUNDLED
    from landmarks.training.trainer import Trainer

    extra = write_xml(test_records[:40], tmp_path / "extra.xml")
    cfg = TrainConfig(data=str(data_dir), out=str(tmp_path / "ft"), recipe="pip-ft", epochs=1, limit=60,
                      init=str(BUNDLED), extra=str(extra), extra_ratio=0.5, progress=False)
    trainer = Trainer(cfg)
    train_faces, val_faces, extra_faces = trainer.load_data()
    assert (len(train_faces), len(val_faces), len(extra_faces)) == (54, 6, 40)
    order = trainer.epoch_order(len(train_faces), len(extra_faces), torch.Generator().manual_seed(0))
    # every training face once, half as many extra faces, drawn from the extra part
    assert len(order) == 54 + 27 and sorted(order[order < 54].tolist()) == list(range(54))
    assert ((order >= 54) & (order < 94)).sum() == 27
    result = train(cfg)
    # started from the bundled model: 3.0 % on these 6 faces before training, 5.2 % after the two
    # steps (fresh AdamW moments at the recipe's rate move a converged model); random weights give
    # points nowhere near the face
    assert result["history"][0]["val_nme"] < 8
    config = json.loads((tmp_path / "ft" / "best" / "config.json").read_text())
    roles = [s["role"].split(",")[0] for s in config["training_data"]]
    assert roles[:3] == ["training and validation", "extra", "initial weights"]
    # then what the bundled weights were trained on
    assert len(roles) > 3 and all(r.startswith("before fine-tuning: ") for r in roles[3:])
    assert "extra.xml" in (tmp_path / "ft" / "best" / "README.md").read_text()
    # the network is fully convolutional: another input size starts from the same weights
    Trainer(TrainConfig(**{**cfg.__dict__, "input_size": 192})).model_and_optimizer()
    with pytest.raises(ValueError, match="another head or crop"):
        Trainer(TrainConfig(**{**cfg.__dict__, "recipe": "regress-v2"})).model_and_optimizer()
    other = write_xml(test_records[40:60], tmp_path / "other.xml")
    with pytest.raises(ValueError, match="trained on other data"):
        train(TrainConfig(**{**cfg.__dict__, "extra": str(other), "epochs": 2, "resume": True}))


def test_refit_recovers_spoilt_offsets_from_the_features_alone(data_dir, tmp_path, test_records):
    """``refit`` solves for the offsets by least squares on the backbone's features: the bundled
    model with its offsets zeroed misses every point; refitted on 300 training faces, it is about
    as good as shipped, its confidence is untouched, and its config names the refit."""
    from conftest import run_landmarks

    from landmarks.data.annotations import read_xml, write_xml
    from landmarks.hub.publish import REFIT
    from landmarks.inference.landmarker import FaceLandmarker
    from landmarks.model.folder import BUNDLED
    from landmarks.training.evaluate import evaluate

    spoilt = load_network(BUNDLED)
    n = spoilt.num_points
    with torch.no_grad():
        spoilt.head.conv.weight[n:] = 0
        spoilt.head.conv.bias[n:] = 0
    spoilt.save_pretrained(tmp_path / "spoilt")
    fit = write_xml(read_xml(data_dir / "labels_train.xml")[:300], tmp_path / "fit.xml")

    p = run_landmarks("refit", str(tmp_path / "spoilt"), str(fit), "--out", str(fit / "x"))  # a folder inside a file
    assert p.returncode == 2 and p.stderr.startswith("error: --out") and "Traceback" not in p.stderr
    p = run_landmarks("refit", str(tmp_path / "spoilt"), str(fit), "--out", str(tmp_path / "refit"))
    assert p.returncode == 0, p.stderr
    faces = write_xml(test_records[::10], tmp_path / "test.xml")
    nme = {}
    for name in ("spoilt", "refit"):
        fl = FaceLandmarker(tmp_path / name, runtime="torch")
        _, summary = evaluate(faces, fl, progress=False)
        nme[name] = summary["nme"]
    _, shipped = evaluate(faces, FaceLandmarker(BUNDLED, runtime="torch"), progress=False)
    assert nme["spoilt"] > 10
    assert nme["refit"] < shipped["nme"] + 0.3, (nme, shipped)
    refitted = load_network(tmp_path / "refit")
    torch.testing.assert_close(refitted.head.conv.weight[:n], spoilt.head.conv.weight[:n])  # the cell scores
    torch.testing.assert_close(refitted.backbone.state_dict(), spoilt.backbone.state_dict())
    config = json.loads((tmp_path / "refit" / "config.json").read_text())
    assert config["training_data"][-1] == {"name": f"{tmp_path.name}/fit.xml", "role": REFIT}


def test_distillation_runs_resumes_after_a_kill_and_exports(data_dir, tmp_path, test_records, capsys):
    """The lite recipe learns from the bundled model's points on every augmented view: it needs
    its teacher, records it among the sources, survives a kill, and exports a model folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from landmarks.data.annotations import write_xml
    from landmarks.hub.publish import TEACHER, export
    from landmarks.inference.landmarker import FaceLandmarker
    from landmarks.model.folder import BUNDLED

    out = tmp_path / "lite"
    with pytest.raises(ValueError, match="learns from a teacher"):
        train(TrainConfig(data=str(data_dir), out=str(out), recipe="lite-distil", progress=False))
    cmd = [sys.executable, "-m", "train", "--data", str(data_dir), "--recipe", "lite-distil", "--teacher", str(BUNDLED),
           "--limit", "48", "--batch-size", "16", "--epochs", "2", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] in (1, 2)
    cfg = TrainConfig(data=str(data_dir), out=str(out), recipe="lite-distil", teacher=str(BUNDLED), limit=48,
                      batch_size=16, epochs=2, resume=True)
    resumed = train(cfg)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert all(h["teacher_share"] > 0 for h in resumed["history"])  # the teacher labelled the views
    assert f"teacher: {BUNDLED}" in capsys.readouterr().out
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["arch"] == "mobilenet_v2" and {"name": "full", "role": TEACHER} in config["training_data"]
    assert "distilled from the bundled `full` model" in (out / "best" / "README.md").read_text()

    labels = write_xml(test_records[:16], tmp_path / "calibration.xml")
    folder = export(out, tmp_path / "exported", half=True, int8_labels=labels)
    assert (folder / "model.int8.onnx").stat().st_size < 4e6
    faces = FaceLandmarker(folder, runtime="torch").predict_boxes(test_records[0].image, [(40, 40, 100, 100)])
    assert faces[0].points.shape == (68, 2)
