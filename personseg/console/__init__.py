"""What steps and commands show on a terminal: progress lines, third-party noise kept quiet, a runnable name.

Low in the layers because training, quantize and evaluate write progress; how a local pipeline run is
shown (step lines, its log file) is ``personseg_kfp.local``.
"""
