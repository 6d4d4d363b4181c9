"""The one shape: as many users as the visits in flight need (see `surge.harness.shape_tick`)."""

from locust import LoadTestShape

from surge.harness import shape_tick


class SurgeShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        return shape_tick(self)
