"""Datasets: digit domains (course folders, built-in offline domains, torchvision) and their cache."""
