"""Video files: tracked frame by frame, an annotated video and the points as CSV / JSON Lines."""
import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT

from landmarks.core.image_io import to_rgb_array
from landmarks.face.records import CSV_COLUMNS, RAW_COLUMNS
from landmarks.inference.landmarker import FaceLandmarker
from landmarks.inference.video import VideoError, probe, process_video


def make_clip(path, records, frames_each=8, fps=10):
    """A clip of real test faces, each drifting a few pixels for ``frames_each`` frames."""
    fourcc = {".avi": "MJPG", ".mp4": "mp4v", ".webm": "VP80"}[path.suffix]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (256, 256))
    truth = []
    for rec in records:
        rgb = to_rgb_array(rec.image)
        for i in range(frames_each):
            m = np.float32([[1, 0, 2 * i], [0, 1, i]])
            writer.write(cv2.cvtColor(cv2.warpAffine(rgb, m, (256, 256), borderMode=cv2.BORDER_REPLICATE), cv2.COLOR_RGB2BGR))
            truth.append(rec.points + [2 * i, i])
    writer.release()
    return path, truth


@pytest.fixture(scope="module")
def clip(test_records, tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "faces.avi", [test_records[i] for i in (0, 40, 80)])


def test_every_frame_gets_its_face_in_csv_jsonl_and_the_annotated_video(clip, tmp_path):
    path, truth = clip
    r = process_video(path, FaceLandmarker(device="cpu"), out_video=tmp_path / "out.webm", out_csv=tmp_path / "p.csv",
                      out_jsonl=tmp_path / "p.jsonl", progress=False)
    assert r.frames == len(truth) == 24
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert list(rows[0]) == CSV_COLUMNS and len(rows) == r.rows
    lines = [json.loads(line) for line in open(tmp_path / "p.jsonl")]
    assert len(lines) == len(rows)
    by_frame = {}
    for line in lines:
        by_frame.setdefault(line["frame"], []).append(line)
    assert sorted(by_frame) == list(range(24)) and all(len(v) == 1 for v in by_frame.values())
    for f, (line,) in by_frame.items():
        err = np.linalg.norm(np.array(line["points"]) - truth[f], axis=1).mean()
        iod = np.linalg.norm(truth[f][36] - truth[f][45])
        assert err / iod < 0.12, (f, err / iod)  # the right face, point for point
        assert {"yaw", "pitch", "roll", "eye_aspect_ratio"} <= set(line)
    np.testing.assert_allclose([float(rows[5][f"x{i}"]) for i in (1, 2, 3)], np.array(by_frame[5][0]["points"])[:3, 0])
    out = cv2.VideoCapture(str(tmp_path / "out.webm"))
    n = 0
    while out.read()[0]:
        n += 1
    assert n == 24


def test_points_are_smoothed_and_the_raw_ones_come_along_when_asked(clip, tmp_path):
    path, _ = clip
    fl = FaceLandmarker(device="cpu")
    process_video(path, fl, out_csv=tmp_path / "s.csv", out_jsonl=tmp_path / "s.jsonl", progress=False, raw_points=True)
    process_video(path, fl, out_jsonl=tmp_path / "r.jsonl", progress=False, smooth=False)
    smoothed = [json.loads(line) for line in open(tmp_path / "s.jsonl")]
    raw = [json.loads(line) for line in open(tmp_path / "r.jsonl")]
    assert [s["raw_points"] for s in smoothed] == [r["points"] for r in raw] and "raw_points" not in raw[0]
    assert sum(s["points"] != s["raw_points"] for s in smoothed) > len(smoothed) // 2
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert list(rows[0]) == CSV_COLUMNS + RAW_COLUMNS
    assert float(rows[3]["raw_x1"]) == smoothed[3]["raw_points"][0][0]


def test_progress_callback_and_limits(clip, tmp_path):
    path, _ = clip
    seen = []
    process_video(path, FaceLandmarker(device="cpu"), progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (24, 24) and len(seen) == 24
    with pytest.raises(VideoError, match=r"faces.avi: 2.4 s long; at most 1.0 s is processed"):
        probe(path, max_seconds=1.0)  # a 2.4 s clip against a 1 s limit
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0\0\0\x18ftypmp42" + b"junk" * 100)
    with pytest.raises(VideoError, match="not a readable video"):
        probe(broken)
    with pytest.raises(VideoError, match="file not found"):
        probe(tmp_path / "absent.mp4")


def test_fast_clips_are_subsampled_and_the_work_is_bounded_by_frames(test_records, tmp_path):
    fl = FaceLandmarker(device="cpu")
    # 120 frames/s: every 4th frame is tracked (30 a second), the output plays at 30 frames/s
    fast, _ = make_clip(tmp_path / "fast.avi", [test_records[0]], frames_each=24, fps=120)
    r = process_video(fast, fl, out_video=tmp_path / "fast.webm", out_jsonl=tmp_path / "fast.jsonl", progress=False)
    assert r.frames == 6 and r.info.step == 4
    lines = [json.loads(line) for line in open(tmp_path / "fast.jsonl")]
    assert [line["frame"] for line in lines] == [0, 4, 8, 12, 16, 20]
    assert [line["time_s"] for line in lines] == [0.0, 0.033, 0.067, 0.1, 0.133, 0.167]
    assert cv2.VideoCapture(str(tmp_path / "fast.webm")).get(cv2.CAP_PROP_FPS) == pytest.approx(30, abs=0.5)
    # 999 frames/s for 3 s, "3 s" but 2997 frames: refused from the header, before decoding
    path = tmp_path / "999fps.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 999, (64, 48))
    for _ in range(2997):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    with pytest.raises(VideoError, match=r"999fps.avi: 2997 frames \(999 a second\); at most 1800 are read"):
        process_video(path, fl, max_seconds=30, progress=False)


def test_a_failed_or_stopped_clip_leaves_no_files(clip, tmp_path):
    # a header that promises frames, and none to decode
    path = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    start = data.find(b"movi") + 4
    data[start:] = b"\0" * (len(data) - start)  # the frames' data wiped out
    path.write_bytes(bytes(data))
    outputs = [tmp_path / "out.webm", tmp_path / "out.csv", tmp_path / "out.jsonl"]
    with pytest.raises(VideoError):
        process_video(path, FaceLandmarker(device="cpu"), *outputs, progress=False)
    assert not any(p.exists() for p in outputs)

    class Stop(Exception):
        pass

    def stop(done, total):  # a caller that stops the work (the app, when its client is gone)
        if done == 3:
            raise Stop
    with pytest.raises(Stop):
        process_video(clip[0], FaceLandmarker(device="cpu"), *outputs, progress=stop)
    assert not any(p.exists() for p in outputs)


def test_predict_command_on_a_video(clip, tmp_path):
    path, _ = clip
    p = subprocess.run([sys.executable, "-m", "landmarks", "predict", str(path), "--out", str(tmp_path / "r.json"),
                        "--draw", str(tmp_path / "drawn")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    result = json.loads((tmp_path / "r.json").read_text())[str(path)]
    assert result["frames"] == 24 and result["faces"] == 24
    assert len(open(tmp_path / "faces.landmarks.csv").readlines()) == 25
    assert (tmp_path / "drawn" / "faces.mp4").stat().st_size > 10_000
