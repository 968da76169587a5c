"""Distribution for newsbeam.

The runtime pins are exact so that a launcher and its workers (DirectRunner,
Flink, Spark or Dataflow, which install this package from ``--setup_file``)
run the same code.  ``constraints.txt`` pins the transitive closure for the
Makefile's virtualenv.
"""
from setuptools import find_packages, setup

RUNTIME = [
    # Beam 2.62.0 is the newest release whose Flink runner and job service
    # resolve from Maven Central here (see README, "Runners").
    "apache-beam==2.62.0",
    "feedparser==6.0.14",
    "trafilatura==2.3.1",
    # lxml 6 split lxml.html.clean out; trafilatura (via justext) imports it.
    "lxml_html_clean==0.4.6",
    "langdetect==1.0.9",
    "pyarrow==16.1.0",
    "aiohttp==3.14.5",
    "brotli==1.2.1",
    "protego==0.7.0",
    "charset-normalizer==3.5.3",
    # Parser-level defence against XML entity attacks (billion laughs, XXE).
    "defusedxml==0.7.1",
    # MinHash and LSH for near-duplicate stories, with fixed seeds.
    "datasketch==2.0.0",
    # The progress line of newsbeam ingest (pipelines/progress.py).
    "tqdm==4.70.1",
]

DEV = [
    "pytest==9.2.0",
    "ruff==0.17.5",
    "duckdb==2.0.0",
    # Property-based tests of every hostile-input boundary.
    "hypothesis==6.170.17",
    # Trains the clean stage's line model (bench/train_line_model.py); workers
    # read its weights without it.
    "scikit-learn==1.9.1",
]

setup(
    name="newsbeam",
    version="0.1.0",
    description="News ingestion pipeline on Apache Beam: feeds to clean, "
    "language-tagged articles in Parquet.",
    python_requires=">=3.11",
    packages=find_packages(include=["pipelines", "pipelines.*", "transforms",
                                    "transforms.*", "schemas", "schemas.*"]),
    package_data={"transforms": ["boilerplate/rules/*.json", "boilerplate/line_model.json"]},
    install_requires=RUNTIME,
    extras_require={"dev": DEV},
    entry_points={"console_scripts": ["newsbeam = pipelines.cli:main"]},
)
