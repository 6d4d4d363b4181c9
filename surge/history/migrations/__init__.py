"""The history's schema migrations (Alembic), shipped in the package and run by
`surge.history.store` whenever it opens a history: nobody runs `alembic` by hand to use one.

A developer changing `surge.history.schema` adds a revision here (docs/history.md says how).
"""
