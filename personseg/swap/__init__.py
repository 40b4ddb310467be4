"""The swap: bilinear upsampling replaced by transposed convolutions, then fine-tuned (``step.run``)."""
