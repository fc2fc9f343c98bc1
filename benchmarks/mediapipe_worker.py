"""MediaPipe Face Mesh timing, run by speed.py inside its own virtual environment
(mediapipe 0.10.21 pins numpy < 2).  Reads frames from an .npz file, prints one JSON line:
{"1": {"ms": [...], "found": N}, "5": ...} -- ms per frame, faces found in the first frame."""
import json
import sys
import time

import mediapipe as mp
import numpy as np


def main(path: str) -> None:
    clips = np.load(path)
    out = {}
    for key in clips.files:
        frames = clips[key]
        faces = int(key)
        # the video mode a webcam demo uses: detection once, then tracking from the last mesh
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=faces, refine_landmarks=False) as mesh:
            res = mesh.process(frames[0])
            found = len(res.multi_face_landmarks or [])
            ms = []
            for frame in frames:
                t0 = time.perf_counter()
                mesh.process(frame)
                ms.append(1000 * (time.perf_counter() - t0))
        out[key] = {"ms": ms, "found": found}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
