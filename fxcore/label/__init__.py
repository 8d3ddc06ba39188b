"""The ``label`` job: OPAL (Algorithms 1 and 4), annotators, test-input validation metrics."""
