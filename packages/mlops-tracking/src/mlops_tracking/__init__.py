"""Experiment tracking and model registry for the shared MLOps layer, on MLflow."""
