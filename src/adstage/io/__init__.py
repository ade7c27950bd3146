"""Reading and writing images, masks and files, robustly and atomically."""
