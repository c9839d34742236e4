"""Analyst tools over the views: export, full-text search, statistics, an HTML report and Datasette."""
