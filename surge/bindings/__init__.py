"""Bindings shipped with the harness: the mock core's (`mock_core:MockCore`), the default."""
