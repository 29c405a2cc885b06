"""Model serving for the shared MLOps layer: one FastAPI gateway for every project."""
