"""The catalog store (LanceDB): products, their masks and embeddings, on disk."""
