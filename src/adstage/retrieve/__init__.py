"""Embed products and retrieve similar staged products (Ku et al., AdKDD 2023, §5.3 step 1)."""
