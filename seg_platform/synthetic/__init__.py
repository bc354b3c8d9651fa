"""Synthetic company data: landing files for every contract source plus ground truth."""
