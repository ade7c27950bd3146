"""The HTTP side of adstage: services and web pages on top of the public API (FastAPI, only here).

- :mod:`adstage.serve.app`: the staging service (``adstage serve``): segment, stage, animate and
  generate over HTTP, with jobs, limits, metrics and a web page;
- :mod:`adstage.serve.study`: the human study of realism judgements (pairwise, g2r, best-of-n).
"""
