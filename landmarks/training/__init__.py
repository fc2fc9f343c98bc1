"""Training and measuring models: recipes, the trainer, evaluation, metrics, plots, refit and pseudo-labels."""
