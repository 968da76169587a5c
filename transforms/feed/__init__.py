"""Reading feeds: the feed list, decoding, the entity screen, the RSS/Atom
(feedparser) and JSON Feed readers, plain-text fields, link checks, and the
per-feed state rules (conditional requests, schedule, health)."""
