"""MiVOLO age and gender estimation: detector, tracker, MiVOLO and exports."""

import os

# ultralytics reads this once at import: unpickle detector files with weights_only=True and its
# class allow-list, never with arbitrary code execution.
os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")
# No update checks or telemetry from ultralytics: the tool must work offline.
os.environ.setdefault("YOLO_OFFLINE", "1")
# ultralytics logs a model summary and "Loading ..." lines at INFO on every run; --verbose shows them.
os.environ.setdefault("YOLO_VERBOSE", "False")

__version__ = "1.0.0"
