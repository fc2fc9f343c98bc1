"""Running a model: PyTorch or ONNX Runtime sessions, the int8 twin and its check on this CPU, the CPU's capabilities."""
