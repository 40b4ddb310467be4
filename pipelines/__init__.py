"""The person-segmentation pipeline, its compiled YAML, and helpers to submit and schedule it."""
