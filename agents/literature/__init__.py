"""Literature search: one small client over OpenAlex, Semantic Scholar, arXiv and Crossref.

    client = LiteratureClient(LiteratureConfig.from_env(), store)
    found = await client.search("sharpness aware minimization small batches", limit=8)
    paper = await client.paper("arxiv:2010.01412")
    entry = bibtex(paper, "foret2020sharpness")

Each backend is polite by default (a minimum interval between its requests, ``Retry-After``
honoured, bounded retries, optional API keys from the environment); results are cached in
the run store, so a repeated query costs no request; backends are tried in a fallback order
that skips one that keeps failing; offline, only the cache answers. Nothing heavy is
imported here: httpx loads when the first request is made.
"""
