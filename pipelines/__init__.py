"""The compiled pipeline (``person_segmentation.yaml``) and a thin entry point into ``personseg_kfp.pipeline``."""
