"""A second API and the binding that drives it: the proof that the journeys are not tied to the
mock core's API (docs/bindings.md).

- `branch_api_server`: "Branch API v2", a small real HTTP app with its own paths, field names,
  integer minor-unit amounts, error format, OAuth2 client credentials and customer logins. It is
  a translating gateway in front of a mock core, so the ledger under it is one the suite checks.
- `branch_api`: the `Binding` for it, what `--binding examples.bindings.branch_api:BranchApi`
  names.
"""
