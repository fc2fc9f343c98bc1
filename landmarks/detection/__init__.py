"""Face detectors (BlazeFace, Haar cascades), their error, and matching detections to faces."""
