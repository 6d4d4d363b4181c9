"""The three channels' customers; what they do lives in `surge.harness` and `surge.journeys`."""

from surge.harness import SurgeUser


class CounterUser(SurgeUser):
    channel = "counter"


class KioskUser(SurgeUser):
    channel = "kiosk"


class OnlineBookingUser(SurgeUser):
    channel = "online"
