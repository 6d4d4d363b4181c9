"""Every router of the service, in the order the OpenAPI document lists them."""

from fastapi import APIRouter

from mock_core.routes import (
    accounts,
    admin,
    appointments,
    cash,
    control,
    customers,
    enquiries,
    fx,
    loans,
    queue,
    sessions,
    transfers,
    wealth,
)

ROUTERS: list[APIRouter] = [
    sessions.router,
    customers.router,
    accounts.router,
    cash.router,
    transfers.router,
    loans.router,
    wealth.router,
    fx.router,
    queue.router,
    appointments.router,
    enquiries.router,
    admin.router,
    control.router,
]
