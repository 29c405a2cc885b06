"""Monitoring for the shared MLOps layer: captured predictions, Evidently drift reports, alerts."""
