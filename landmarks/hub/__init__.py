"""The Hugging Face Hub: resolving and downloading models, publishing them, deploying the Space."""
