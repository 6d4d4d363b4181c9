"""The one shape: as many users as the visits in flight need (see `surge.harness.shape`)."""

from locust import LoadTestShape

from surge.harness import shape


class SurgeShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        return shape.tick(self)
