"""Segmentation: candidate clusterings of the feature table, tracked in MLflow, one champion."""
