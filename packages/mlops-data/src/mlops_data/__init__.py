"""Data and model versioning for the shared MLOps layer, on DVC."""
