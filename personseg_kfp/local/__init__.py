"""A run of the whole pipeline on this machine with ``kfp.local``, and what the terminal shows of it.

``run`` compiles and runs the pipeline; ``watch`` follows the run's task folders as they appear and
``figures`` reads each finished step's key figure from them; ``console`` formats the lines a person
reads (a line per step, the gate's verdict, where to look); ``quiet`` sends everything else to the
run's log file through ``redirect``.
"""
