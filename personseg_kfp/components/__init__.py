"""KFP components, one per pipeline step; each body calls ``personseg`` and nothing more.

``STEP_IMAGE`` is the project's step image (``images/pipeline/Dockerfile``) and ``SERVING_IMAGE`` the
model server's (``images/serving/Dockerfile``, the default of the pipeline's ``serving_image``), both
named from the package version by ``personseg.image_refs``: ``PERSONSEG_IMAGE_REGISTRY`` at compile time
sets the registry of both. The step image installs the project and kfp, so components never use
``packages_to_install``.
"""

from personseg.image_refs import pipeline_image, serving_image

STEP_IMAGE = pipeline_image()
SERVING_IMAGE = serving_image()
