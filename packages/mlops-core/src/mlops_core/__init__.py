"""Core of the shared MLOps layer: settings, hook specifications, plugin manager, project registry, lineage ledger, CLI."""
