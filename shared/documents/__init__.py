"""Documents: the Data service's logic and the ingest pipeline's pure parts."""
