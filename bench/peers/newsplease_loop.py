"""news-please on a URL list: NewsPlease.from_url for each article in turn."""
import json
import logging
import sys

from newsplease import NewsPlease

logging.disable(logging.CRITICAL)
urls = [line.strip() for line in open(sys.argv[1]) if line.strip()]
articles = 0
for url in urls:
    try:
        article = NewsPlease.from_url(url, request_args={"timeout": 30}, fetch_images=False)
    except Exception:  # noqa: BLE001 - a peer's failure just counts as no article
        continue
    if article is not None and (article.maintext or "").strip():
        articles += 1
print(json.dumps({"articles": articles, "urls": len(urls)}))
