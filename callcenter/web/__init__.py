"""The operators' web console: pages, templates, static files, charts, metrics and statistics."""
