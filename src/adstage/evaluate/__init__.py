"""Metrics: segmentation quality (IoU, F-measure, MAE) and, later, retrieval, FID/KID and more."""
