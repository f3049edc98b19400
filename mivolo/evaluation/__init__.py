"""Benchmark evaluation of MiVOLO checkpoints (eval_pretrained.py) and dataset preparation."""
