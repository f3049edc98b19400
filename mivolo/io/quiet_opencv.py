"""OpenCV and its FFmpeg print their own warnings on stderr: a missing webcam alone gives ten
lines, a full disk one per frame. The tool reports every such problem itself, in one line, so
importing this module (the readers and writers of mivolo.io do) silences both. Set
OPENCV_LOG_LEVEL (e.g. INFO) or OPENCV_FFMPEG_LOGLEVEL (e.g. 32) to see them again.
"""

import os

import cv2

if "OPENCV_LOG_LEVEL" not in os.environ:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
# AV_LOG_QUIET; OpenCV's FFmpeg backend reads it once, when it opens its first video
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
