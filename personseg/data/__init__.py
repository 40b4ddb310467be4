"""Datasets: the folder layout, validation, loading at a fixed size, splits, augmentation, synthesis, import.

A dataset is a folder (or an s3:// prefix, fetched by ``personseg.uris``) with ``images/<id>.jpg|png``,
``masks/<id>.png`` (person = nonzero) and optionally ``ignore/<id>.png`` (nonzero = pixels that
training and IoU skip) and ``split.json`` (``{"train": [...], "val": [...], "test": [...]}``; see
``personseg.data.split``).
"""

IGNORE = 255  # label value for pixels that loss and metrics skip
