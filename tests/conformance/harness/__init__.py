"""The differential conformance harness: one request list, two servers, compared.

- `cases`: loads and checks the case files, fills `{{placeholders}}`.
- `jsonpath`: dotted paths and patterns into JSON answers (`data.batch_results[0]`).
- `compare`: compares two answers to the same request; knows which fields are random.
- `allowlist`: the explained divergences, and which entries no longer match anything.
- `servers`: starts OpenBao and vault-kms dev servers and talks HTTP to them.
- `runner`: plays one case against both servers and collects the divergences.
- `session`: the files of a run and the run itself, for `run.py` and the pytest entry.
- `report`: the per-case text report, the summary and the endpoint table.
- `docs`: the generated section of `docs/compat.md`.
"""
