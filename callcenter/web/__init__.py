"""What the operators' console is made of: templates, static files, texts (i18n), charts, statistics and the
Prometheus collectors. The routes that serve it are in ``callcenter/api/`` (``pages.py`` for the HTML pages):
api imports web, web never imports api (docs/architecture.md, "Import rules")."""

from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent  # templates/ and static/

__all__ = ["WEB_DIR"]
