"""CPU compression example project."""
