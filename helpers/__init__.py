"""Helpers for the Deep Learning for Computer Vision workbook: data, models, methods, metrics, figures, run records."""
