"""Training scripts: one readable top-to-bottom module per trainable model (torch inside)."""
