"""Person Re-ID: real backbones in their publishers' file formats, used by BoT-SORT and --reid-merge.

from mivolo.reid import load_reid_encoder
encoder = load_reid_encoder("osnet_x0_25_msmt17")   # or a path to a weight file
embeddings = encoder.embed(image_bgr, boxes_xyxy)    # N x encoder.dim, unit length
"""

from mivolo.reid.encoder import ReIDEncoder, load_reid_encoder

__all__ = ["ReIDEncoder", "load_reid_encoder"]
