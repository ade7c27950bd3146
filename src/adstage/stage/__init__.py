"""Retrieval-assisted copy-paste staging (Ku et al., AdKDD 2023, §5.3), end to end."""
