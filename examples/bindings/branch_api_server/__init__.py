"""Branch API v2: a bank API that is not the mock core's, served on loopback in front of one.

Run it with `python -m examples.bindings.branch_api_server --core URL --port N`; its OAuth2
client and the core's tokens come from the environment (`__main__`). docs/bindings.md walks
through it and the binding that drives it.
"""
