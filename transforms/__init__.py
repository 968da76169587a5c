"""One module per pipeline stage, each a composite PTransform.

Support code that several stages share lives in subpackages: ``http`` (the
guarded, bounded HTTP client) and ``boilerplate`` (the cleaning engine and
its rules).
"""
