"""Deploy a model version: render, apply, wait, smoke-test, roll back, record in the registry.

``personseg.deploy.step.run`` is the step function; the targets live beside it (``cluster``,
``kserve``, ``local``, ``container``).
"""
