"""Person Re-ID: real backbones in their publishers' file formats, used by BoT-SORT and --reid-merge.

from mivolo.reid import load_reid_encoder
encoder = load_reid_encoder("osnet_x0_25_msmt17")   # or a path to a weight file
embeddings = encoder.embed(image_bgr, boxes_xyxy)    # N x encoder.dim, unit length
"""

__all__ = ["ReIDEncoder", "load_reid_encoder"]


def __getattr__(name):
    # the encoder imports torch: only when it is asked for, so that the catalog reads at once
    if name in __all__:
        from mivolo.reid import encoder

        return getattr(encoder, name)
    raise AttributeError(f"module 'mivolo.reid' has no attribute {name!r}")
