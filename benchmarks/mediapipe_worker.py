"""MediaPipe Face Mesh, run by speed.py and steadiness.py inside its own virtual environment
(mediapipe 0.10.21 pins numpy < 2).  Reads frames from an .npz file.

    mediapipe_worker.py CLIPS.npz --serve    # timing, one frame per request: reads "CLIP I" lines,
        answers "MS FOUND" for frame I of that clip (its ms, faces found), so that the caller can
        interleave these frames with its own; each clip has its own mesh, warmed on its first frame
    mediapipe_worker.py CLIPS.npz OUT.npz    # points: the largest face's 468 points per frame, in
        pixels (NaN where none was found), one array per clip; one face per clip
"""
import sys
import time

import mediapipe as mp
import numpy as np


def mesh(faces: int):
    # the video mode a webcam demo uses: detection once, then tracking from the last mesh
    return mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=faces, refine_landmarks=False)


def serve(clips) -> None:
    meshes = {}
    for line in sys.stdin:
        key, i = line.split()
        frames = clips[key]
        if key not in meshes:
            meshes[key] = mesh(int(key))
            meshes[key].process(frames[0])
        t0 = time.perf_counter()
        res = meshes[key].process(frames[int(i)])
        ms = 1000 * (time.perf_counter() - t0)
        print(ms, len(res.multi_face_landmarks or []), flush=True)


def points(clips, path: str) -> None:
    out = {}
    for key in clips.files:
        frames = clips[key]
        h, w = frames.shape[1:3]
        pts = np.full((len(frames), 468, 2), np.nan, np.float32)
        with mesh(1) as m:
            for i, frame in enumerate(frames):
                res = m.process(frame)
                if res.multi_face_landmarks:
                    lm = res.multi_face_landmarks[0].landmark
                    pts[i] = [(p.x * w, p.y * h) for p in lm]
        out[key] = pts
    np.savez(path, **out)


if __name__ == "__main__":
    clips = np.load(sys.argv[1])
    serve(clips) if sys.argv[2] == "--serve" else points(clips, sys.argv[2])
