"""The benchmarks' names and the results formats (light: what the command line offers)."""

REGRESSION_DATASETS = ("utk", "imdb", "lagenda", "agedb", "cacd")
AGE_CLASS_DATASETS = ("fairface", "adience")
DATASET_NAMES = REGRESSION_DATASETS + AGE_CLASS_DATASETS
RESULTS_FORMATS = ("csv", "json")
