"""Workflow orchestration for the shared MLOps layer, on Airflow 3."""
