"""Metrics (docs/metrics.md): segmentation quality (IoU, F-measure, MAE), retrieval P@k / R@k,
FID/KID, the realism critic (a classifier two-sample test on crops around the product), LPIPS and
MP-LPIPS with the authors' weights, product fidelity and image quality (bit-exactness, CIEDE2000,
PSNR / SSIM / MS-SSIM, placement IoU), CLIP-score and ImageReward with the user's checkpoints,
and reports of whole runs."""
