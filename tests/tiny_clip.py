"""A tiny CLIP tokenizer written to a folder, for the tests of CLIP-score and of RefAdGen's text
encoder (import: tiny_clip)."""

from __future__ import annotations

import json
from pathlib import Path


def write_clip_tokenizer(folder: Path) -> int:
    """A tiny CLIP BPE tokenizer (single letters, a few merges); returns its vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    tokens = ["<|startoftext|>", "<|endoftext|>"]
    tokens += list(letters) + [c + "</w>" for c in letters]
    merges = ["b o", "bo x</w>", "r e", "re d</w>"]
    tokens += ["bo", "box</w>", "re", "red</w>", ",</w>", ","]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"})
    )
    return len(tokens)
