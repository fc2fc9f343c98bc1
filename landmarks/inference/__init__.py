"""Points on pictures, streams and videos: the landmarker, tracking, smoothing and video files."""
