"""Record types that flow through the pipeline and the Parquet schemas they map to."""
from schemas.arrow import (
    ARTICLE_PARTITIONS,
    ARTICLE_SCHEMA,
    DEAD_LETTER_PARTITIONS,
    DEAD_LETTER_SCHEMA,
    to_arrow_rows,
)
from schemas.records import (
    SCHEMA_VERSION,
    Article,
    DeadLetter,
    FeedEntry,
    FeedState,
    Page,
    RemovedLine,
)

__all__ = [
    "ARTICLE_PARTITIONS",
    "ARTICLE_SCHEMA",
    "DEAD_LETTER_PARTITIONS",
    "DEAD_LETTER_SCHEMA",
    "SCHEMA_VERSION",
    "Article",
    "DeadLetter",
    "FeedEntry",
    "FeedState",
    "Page",
    "RemovedLine",
    "to_arrow_rows",
]
