"""A mock core-banking service that stands in for a bank's core and branch systems under surge."""

__version__ = "0.1.0"
