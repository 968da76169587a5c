"""The stages, and the libraries under them.

Three layers, each importing only from the ones below it:

1. ``pipelines/`` wires stages into the batch and streaming jobs.
2. Stage modules here, one composite PTransform each: the sources
   (``feeds``: read once; ``poll``: poll forever), the article chain
   (``articles`` puts ``dedup``, ``fetch``, ``extract``, ``clean``,
   ``language`` and ``rows`` in order), ``seen`` (streaming), ``write`` (rows
   to a sink) and ``commits`` (streaming's per-window commit).
3. Libraries: ``lib`` (text, outcomes and the per-element guard, datasets,
   the stage description, async DoFns, the CPU budget, URLs, the state
   directory), ``http`` (the guarded client), ``feed`` (reading feeds),
   ``boilerplate`` (the cleaning engine) and ``sinks`` (where datasets go).
"""
