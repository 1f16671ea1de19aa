"""Dataset tasks: AIDE data folders and MLE-bench competition folders, scored by the framework.

A task's nodes write ``submission.csv``; the framework checks its shape, scores it on a
validation split it holds back from the training data for the whole run (which nodes never
see), and at the end grades the chosen node once on the private test answers. See
docs/tasks.md. Nothing heavy is imported here.
"""
