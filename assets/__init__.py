"""Software-defined assets of the signal lifecycle, each with its own checks."""
