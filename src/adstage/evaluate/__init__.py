"""Metrics: segmentation quality (IoU, F-measure, MAE), retrieval P@k / R@k, FID/KID, and the
realism critic (a classifier two-sample test on crops around the product)."""
