"""The HTTP side of adstage: services and web pages on top of the public API (FastAPI, only here).

- :mod:`adstage.serve.study`: the human study of realism judgements (pairwise, g2r, best-of-n).
"""
