"""Training data: annotation files, faces decoded for training, batched augmentation."""
