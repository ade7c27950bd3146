"""The catalog store (LanceDB): product slots, their masks and vectors, on disk. No models."""
