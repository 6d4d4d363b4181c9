"""The surge-rehearsal harness: profiles, the open arrival model, the journeys, Locust's side,
the run folder and its verdict, and the `surge` command (docs/architecture.md)."""
