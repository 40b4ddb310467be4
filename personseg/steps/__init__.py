"""Decisions and reports of the Kubeflow pipeline, as plain functions the components call.

Nothing here imports kfp: the components in ``components/`` are a few lines that move artifact
paths in and out of these functions, so everything that can be wrong is unit-tested without KFP.
"""
