"""The write-up of a run: facts read from the store, prose, figures, the review and the renderers.

``discovery.report.write_report`` is the entry point; the modules here each do one job.
Nothing heavy is imported here: matplotlib and litellm load inside the functions that use them.
"""
