"""68-point face landmarks: data, training, evaluation and inference."""
