"""Shared libraries every stage builds on; nothing here imports a stage.

Text safety and paragraphs (``text``), counters, dead letters and the
per-element guard (``outcomes``), the dataset definitions (``datasets``),
the stage description and its composite (``stage``), Beam plumbing for
asynchronous I/O (``async_dofn``, ``loop``), the CPU budget (``budget``),
canonical URLs and ids (``urls``), feed scheduling (``schedule``), and the
state directory (``state_dir``).
"""
