"""One spider per source. Modules starting with an underscore hold shared code, not spiders."""
