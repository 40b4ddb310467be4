"""Training: the loss, a reproducible fit loop shared by training and swap fine-tuning, and the step."""
