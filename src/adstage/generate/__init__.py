"""RefAdGen (Chen & Yang): a reference product photo + a text → an ad image, with a dual U-Net.

Needs the optional extra ``pip install 'adstage[generate]'`` (diffusers, transformers,
accelerate); nothing else in adstage imports them. :mod:`.refadgen` is the model,
:mod:`.sampling` the schedulers and guided sampling loop.
"""
