"""Training: data loading, the loop, checkpoints, evaluation, the job and scorer tuning."""
