"""munijobs: scraper and aggregator of job ads from Norwegian municipalities and county municipalities."""

__version__ = "0.1.0"
