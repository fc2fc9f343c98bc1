"""``FaceLandmarker``: image in, 68 points per face out."""
from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np

from ..core import geometry
from ..core.geometry import landmark_box
from ..core.image_io import to_rgb_array
from ..core.scheme import FLIP_PERMUTATION
from ..detection.base import iou, to_landmark_boxes
from ..detection.detectors import make_detector
from ..detection.haar import HAAR_TO_LANDMARK_BOX
from ..hub.resolve import resolve
from ..model.folder import LoadedModel, ModelError, ModelSpec, torch_installed
from ..runtime.runners import make_runner

log = logging.getLogger(__name__)  # without logging set up, Python prints warnings as one line on stderr


@dataclass(frozen=True)
class Face:
    """One face's result.  Immutable: a smoother or a display step makes new faces, so
    the tracker keeps following the points the network found."""

    box: np.ndarray  # x, y, w, h in image pixels
    points: np.ndarray  # (68, 2) image pixels
    score: float | None = None  # the model's confidence that this is a face, 0..1 (pip models)

    def head_pose(self, image_size: tuple[int, int]):
        """Yaw, pitch and roll (degrees) in an image of (width, height) pixels: ``pose.head_pose``."""
        from ..face.pose import head_pose

        return head_pose(self.points, image_size)

    def mirrored(self, width: int) -> "Face":
        """The face in the image flipped left to right (``width`` pixels wide): each point moves
        and takes its twin's number (the person's right eye is again point 37-42), so pose,
        openness and drawing read it as the face it now is."""
        x, y, w, h = self.box
        points = (self.points * np.array([-1, 1], np.float32) + [width - 1, 0])[FLIP_PERMUTATION]
        return Face(np.array([width - x - w, y, w, h], np.float32), points.astype(np.float32), self.score)

    def aligned(self, image, size: int = 112) -> tuple[np.ndarray, np.ndarray]:
        """(``size`` x ``size`` crop with the eyes, nose and mouth at the ArcFace template, 2x3
        matrix mapping crop pixels back to the image): ``alignment.align_face``."""
        from ..face.alignment import align_face

        return align_face(to_rgb_array(image), self.points, size)


def distinct(faces: list[Face], rank) -> list[Face]:
    """Faces in ``rank`` order, each dropped whose points' box overlaps one already kept
    (IoU >= 0.5): several boxes, or tracks, that converged on one face give it once."""
    kept: list[tuple[Face, tuple]] = []
    for f in sorted(faces, key=rank):
        box = landmark_box(f.points)
        if all(iou(box, k) < 0.5 for _, k in kept):
            kept.append((f, box))
    return [f for f, _ in kept]


def _device(device):
    """A torch device where torch is installed (default: the GPU when there is one), else "cpu"."""
    if not torch_installed():
        if device not in (None, "cpu"):
            raise ValueError(f"device {device!r} needs PyTorch, which is not installed")
        return "cpu"
    import torch

    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _is_network(model) -> bool:
    if not torch_installed():
        return False
    import torch

    return isinstance(model, torch.nn.Module)


class FaceLandmarker:
    """Detect faces and find their 68 iBUG points.

    >>> fl = FaceLandmarker()            # the bundled model, on the CPU
    >>> faces = fl("photo.jpg")          # path, PIL image or RGB numpy array
    >>> faces[0].points.shape
    (68, 2)

    ``model``: None (the bundled model), a folder, a Hub repo id (``user/repo@rev``), a
    ``LoadedModel`` or a network.  ``runtime``: ``auto`` (int8 ONNX Runtime on the CPU when
    the model folder has it, else PyTorch), ``torch`` or ``onnx``; without torch installed
    only the int8 twin runs.  ``min_score``: faces the model is less sure of are dropped
    (pip models; default: the model's ``ModelSpec.face_threshold``).  ``refine``:
    after the first pass on the detector's box, crop again around the found points this many
    times -- the model then sees the box it was trained on, whatever the detector's idea of a
    face box (default: the detector's ``refine``, 0 for BlazeFace, whose keypoints place its
    boxes, and 2 for the cascades, plus the model's ``ModelSpec.extra_refine``, 1 for ``lite``;
    README, Results).
    ``crop_model``: a lighter model (name, folder, repo id or ``LoadedModel``) whose passes
    find the crops in the detector's boxes, ``refine`` + 1 of them, before this model reads
    the points once (default: the model's ``ModelSpec.crop_model``, ``lite`` for the bundled
    ``full``; ``False``: none).
    ``detector``: ``"blazeface"`` (default: MediaPipe's full-range BlazeFace on ONNX
    Runtime, its boxes the landmark boxes its keypoints predict), ``"fast"`` (a shrunk,
    permissive cascade with rotated passes, its candidates judged by the network's score),
    ``"haar"`` (the seed's cascade, scale step 1.1, five neighbours) or a callable
    ``(rgb, min_face) -> (boxes, scores)``.
    """

    def __init__(
        self,
        model=None,
        device: str | None = None,
        min_face: int = 40,
        scale_factor: float | None = None,
        runtime: str = "auto",
        min_score: float | None = None,
        refine: int | None = None,
        detector="blazeface",
        crop_model=None,
    ):
        self.device = _device(device)
        if _is_network(model):
            model = LoadedModel(ModelSpec.of_network(model), model, None, "a network in memory")
        elif not isinstance(model, LoadedModel):
            model = resolve(model, self.device, fallback=False)
        self.loaded = model  # what was loaded, from where (the app shows it)
        self.spec = model.spec  # crop and head: all inference needs besides a runner
        # the network (None in an install without torch, where the int8 twin runs alone)
        self.model = model.network.to(self.device).eval() if model.network is not None else None
        # the lighter model that finds the crops in detector boxes (at_detections), or None
        self.cropper = self._cropper(crop_model)
        self.runner = make_runner(replace(model, network=self.model), self.device, runtime)
        self.reader = PointReader(self.spec, self.runner, model.source)
        # "blazeface", "fast" (shrunk permissive cascade + rotated passes, judged by the
        # network), "haar" (the seed's cascade) or any callable (rgb, min_face) -> (boxes, scores)
        self.detector = make_detector(detector, min_face, scale_factor)
        self.min_score = self.spec.face_threshold if min_score is None else min_score
        self.refine = self.spec.refine_after(getattr(self.detector, "refine", 2)) if refine is None else refine
        # concurrent requests detect in parallel only with a detector that says it may
        self._lock = nullcontext() if getattr(self.detector, "thread_safe", False) else threading.Lock()

    def __call__(self, image, min_face: int | None = None) -> list[Face]:
        """Faces of an image, largest first; ``min_face`` (pixels) overrides the default for this call."""
        rgb = to_rgb_array(image)
        return self.from_detections(rgb, self.detect(rgb, min_face))

    def get_landmarks(self, image) -> list[np.ndarray]:
        """face-alignment style: a (68, 2) array per detected face."""
        return [f.points for f in self(image)]

    def detect(self, rgb: np.ndarray, min_face: int | None = None) -> np.ndarray:
        """Detector boxes (N, 4), largest first."""
        with self._lock:
            return self.detector(rgb, min_face)[0]

    def from_detections(self, rgb: np.ndarray, boxes, crop_model: bool = True) -> list[Face]:
        """Faces in detector boxes: points, refined, confident ones only; ``box`` stays the
        detector's.  ``crop_model=False``: this model's own passes only (``at_detections``)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        faces = self.at_detections(rgb, self.landmark_boxes(boxes), crop_model=crop_model)
        faces = self.confident([replace(face, box=box) for face, box in zip(faces, boxes)])
        # of the boxes on one face (a permissive detector, rotated passes) the most confident; largest first
        return sorted(distinct(faces, rank=lambda f: -(f.score or 0.0)), key=lambda f: -f.box[2] * f.box[3])

    def _cropper(self, crop_model) -> "PointReader | None":
        """The crop model's reader, in its default runtime whatever ``runtime`` this model runs
        (it only finds crops: ``evaluate --runtime torch`` scores this model's points in PyTorch).
        One the model's config names but this install lacks (a Space deployed with one model)
        leaves the model its own passes, with a warning; one asked for by argument must load."""
        if crop_model is False or (crop_model is None and self.spec.crop_model is None):
            return None
        if crop_model is None:
            try:
                crop_model = resolve(self.spec.crop_model, self.device, fallback=False)
            except ModelError as e:
                log.warning("%s; %s finds its own crops", e, self.loaded.source)
                return None
        elif not isinstance(crop_model, LoadedModel):
            crop_model = resolve(crop_model, self.device, fallback=False)
        network = crop_model.network.to(self.device).eval() if crop_model.network is not None else None
        runner = make_runner(replace(crop_model, network=network), self.device)
        return PointReader(crop_model.spec, runner, crop_model.source)

    def landmark_boxes(self, boxes) -> np.ndarray:
        """Detector boxes -> the tight landmark boxes the model was trained on, with the
        detector's own fit (``calibration``); the cascade's for a callable without one."""
        return to_landmark_boxes(boxes, getattr(self.detector, "calibration", HAAR_TO_LANDMARK_BOX))

    def confident(self, faces: list[Face]) -> list[Face]:
        return [f for f in faces if f.score is None or f.score >= self.min_score]

    def predict_boxes(self, image, boxes, refine: int = 0, flip: bool = False) -> list[Face]:
        """Points for given tight landmark boxes (x, y, w, h), all faces in one forward pass;
        ``refine`` more passes each crop at the box of the points found; ``flip`` averages
        with the mirrored crop (twice the network work)."""
        return self.reader(image, boxes, refine, flip)

    def at_detections(self, image, boxes, flip: bool = False, crop_model: bool = True) -> list[Face]:
        """Points for the landmark boxes of a detector's boxes (``landmark_boxes``): crops found
        again ``refine`` times, then read.  With a ``crop_model`` (and ``crop_model=True``) that
        model finds the crops (``refine`` + 1 of its passes) and this one reads the points once,
        at the last crop."""
        if self.cropper is None or not crop_model:
            return self.predict_boxes(image, boxes, refine=self.refine, flip=flip)
        found = self.cropper(image, boxes, self.refine)
        return self.predict_boxes(image, [landmark_box(f.points) for f in found], flip=flip)


class PointReader:
    """One model's passes: crops at given boxes, the network (a runner), points in the image."""

    def __init__(self, spec: ModelSpec, runner, source: str = ""):
        self.spec, self.runner, self.source = spec, runner, source  # source: which model, in words

    def _run(self, x: np.ndarray, flip: bool):
        if not flip:
            return self.runner(x)
        # the mirrored crop in the same batch; its points mirrored back (t_x -> -t_x, twins swapped)
        out, confidence = self.runner(np.concatenate([x, x[..., ::-1]]))
        n = len(x)
        mirrored = out[n:][:, FLIP_PERMUTATION] * np.array([-1, 1], np.float32)
        return (out[:n] + mirrored) / 2, (confidence[:n] + confidence[n:][:, FLIP_PERMUTATION]) / 2

    def __call__(self, image, boxes, refine: int = 0, flip: bool = False) -> list[Face]:
        """Faces at tight landmark boxes, ``refine`` more passes each at its last points' box."""
        is_rgb = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
        rgb = image if is_rgb else to_rgb_array(image)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return []
        spec = self.spec
        for _ in range(refine + 1):
            regions = [spec.preprocess.region(b) for b in boxes]
            out, confidence = self._run(spec.preprocess(rgb, regions), flip)
            points = [geometry.from_targets(o, r).astype(np.float32) for o, r in zip(out, regions)]
            used, boxes = boxes, np.array([landmark_box(p) for p in points])
        scores = confidence.mean(axis=1) if spec.has_confidence else [None] * len(points)
        return [Face(b.astype(np.float32), p, None if s is None else float(s)) for b, p, s in zip(used, points, scores)]
