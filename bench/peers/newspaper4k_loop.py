"""newspaper4k on a URL list: download and parse each article in turn."""
import json
import sys

from newspaper import Article

urls = [line.strip() for line in open(sys.argv[1]) if line.strip()]
articles = 0
for url in urls:
    try:
        article = Article(url, fetch_images=False)
        article.download()
        article.parse()
    except Exception:  # noqa: BLE001 - a peer's failure just counts as no article
        continue
    if article.text.strip():
        articles += 1
print(json.dumps({"articles": articles, "urls": len(urls)}))
