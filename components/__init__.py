"""Thin entry points: the KFP components are ``personseg_kfp.components`` (installed with personseg).

One module per step, as in the project's layout; each re-exports the component so
``from components.train import train`` keeps working in a checkout.
"""

from personseg_kfp.components import STEP_IMAGE  # noqa: F401
