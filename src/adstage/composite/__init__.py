"""Placing a product cut-out in a scene and blending it there."""
