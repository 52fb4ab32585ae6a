"""Layer 5: run folders, checkpoints, loading a trained run, ``train()`` (the engine plus the
run-folder callbacks), resume, export and the end-of-run diagnosis report."""
