"""KFP components, one per pipeline step; each body calls ``personseg`` and nothing more.

``STEP_IMAGE`` is the project's step image (``images/pipeline/Dockerfile``) named from the package
version by ``personseg.images``; ``PERSONSEG_IMAGE_REGISTRY`` overrides the registry at compile time.
The image installs the project and kfp, so components never use ``packages_to_install``.
"""

from personseg.images import pipeline_image

STEP_IMAGE = pipeline_image()
