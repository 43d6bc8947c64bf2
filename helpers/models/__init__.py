"""Network architectures, one module per family."""
