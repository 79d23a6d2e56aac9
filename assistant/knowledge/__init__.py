"""Knowledge: ingestion, incremental FAISS + BM25 index, hybrid retrieval and citations. Entry point: `service`."""
