"""The Kubeflow side of personseg: KFP components, the pipeline, running, uploading and scheduling it.

A separate top-level package because it imports kfp and ``personseg`` never does; it ships in the
same distribution, so ``pip install 'personseg[pipeline]'`` gives working ``personseg pipeline``
commands without a source checkout. The project's top-level ``components/`` and ``pipelines/`` are
thin entry points into it.
"""
