"""The development news site: loopback fixture servers for tests, benchmarks and the demo.

Not part of the installed package.  ``tests/`` and ``bench/`` both import it
on purpose: a site that serves real pages (``corpus_site``), seed-style
WordPress pages (``seed_site``), deliberate faults (``hostile_site``,
``broken_site``, ``faults``), and a feed that keeps publishing
(``live_site``), all on 127.0.0.1.  ``netguard/`` keeps every process that
uses it loopback-only.
"""
