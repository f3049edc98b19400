"""What an export can be written as, and the ONNX opset it defaults to (light: the command line's choices)."""

from mivolo.core.runtime import ONNX, OPENVINO

EXPORT_FORMATS = (ONNX, OPENVINO)
# 17 has a native LayerNormalization; ONNX Runtime >= 1.14 and OpenVINO >= 2023 run it.
DEFAULT_OPSET = 17
