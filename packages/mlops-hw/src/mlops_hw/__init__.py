"""Hardware awareness for the shared MLOps layer: chip, memory, accelerators, thermal state, admission."""
