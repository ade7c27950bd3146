"""EdgeConnect networks: generator and discriminator shapes and ranges, the two-stage pass."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from adstage.errors import InputError  # noqa: E402
from adstage.models.edgeconnect import (  # noqa: E402
    Discriminator,
    EdgeGenerator,
    InpaintGenerator,
    run,
)


def test_generators_and_discriminators_shapes_and_ranges() -> None:
    torch.manual_seed(0)
    g1, g2 = EdgeGenerator(width=0.0625, blocks=1), InpaintGenerator(width=0.0625, blocks=1)
    g1.eval()  # spectral norm's power iteration runs on every forward in train mode
    g2.eval()
    x = torch.rand(2, 3, 24, 36)
    e = (torch.rand(2, 1, 24, 36) > 0.8).float()
    m = torch.zeros(2, 1, 24, 36)
    m[:, :, 6:14, 10:20] = 1
    with torch.no_grad():
        out = run(g1, g2, x, e, m)
    assert out.edges.shape == (2, 1, 24, 36) and out.image.shape == (2, 3, 24, 36)
    for t in (out.edges, out.image, out.merged, out.edges_merged):
        assert float(t.min()) >= 0 and float(t.max()) <= 1
    keep = 1 - m
    assert torch.equal(out.merged * keep, x * keep)
    assert torch.equal(out.edges_merged * keep, e * keep)
    # nothing of the hole reaches the generators: changing it changes nothing
    x2 = x.clone()
    x2[:, :, 6:14, 10:20] = torch.rand(2, 3, 8, 10)
    with torch.no_grad():
        assert torch.equal(run(g1, g2, x2, e, m).image, out.image)
    logits, feats = Discriminator(3, width=0.0625)(out.image)
    assert logits.shape[:2] == (2, 1) and len(feats) == 5
    with pytest.raises(InputError, match="multiples of 4"):
        g2(torch.rand(1, 3, 30, 32), torch.rand(1, 1, 30, 32))
    small = sum(p.numel() for p in InpaintGenerator(width=0.125, blocks=2).parameters())
    big = sum(p.numel() for p in InpaintGenerator(width=0.25, blocks=2).parameters())
    assert 3.5 < big / small < 4.1  # channels ×2 → parameters ×~4
    with pytest.raises(InputError, match="width"):
        EdgeGenerator(width=0)
