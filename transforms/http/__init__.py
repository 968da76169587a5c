"""A guarded, bounded asynchronous HTTP client for feeds and pages."""
