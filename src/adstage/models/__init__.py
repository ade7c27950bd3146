"""Network definitions and their loaders only (timm / diffusers style): no pipeline logic.

One module per published model, named after it and citing its paper at the top:

* :mod:`~adstage.models.u2net`: U²-Net / U²-Netp (Qin et al. 2020), checkpoint loading, ONNX;
* :mod:`~adstage.models.isnet`: IS-Net (Qin et al. 2022) through onnxruntime, re-targeted sizes;
* :mod:`~adstage.models.inception`: the FID Inception-V3 (TorchScript) and its ONNX export;
* :mod:`~adstage.models.efficientnet`: EfficientNet-Lite0 (Tan & Le 2019);
* :mod:`~adstage.models.edgeconnect`: the EdgeConnect generators and discriminator (Nazeri et
  al. 2019) and their checkpoints;
* :mod:`~adstage.models.features`: the feature networks of the perceptual and style losses;
* :mod:`~adstage.models.pix2pix`: the pix2pix U-Net and PatchGAN (Isola et al. 2017);
* :mod:`~adstage.models.runtime`: the onnxruntime CPU session they share.

Thresholds, resizing policy and registries belong to the stage that uses a network
(``segment/``, ``retrieve/``, ``inpaint/``, ``stage/``). Importing this package imports nothing
heavy; each module imports torch or onnxruntime itself.
"""
