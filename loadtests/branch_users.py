"""The three channels' customers; what they do is in `surge.harness.users` and
`surge.visit.journeys`."""

from surge.harness.users import SurgeUser


class CounterUser(SurgeUser):
    channel = "counter"


class KioskUser(SurgeUser):
    channel = "kiosk"


class OnlineBookingUser(SurgeUser):
    channel = "online"
