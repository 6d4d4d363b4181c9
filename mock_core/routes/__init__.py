"""Every router of the service, in the order the OpenAPI document lists them."""

from fastapi import APIRouter

from mock_core.routes import accounts, admin, cash, customers, transfers

ROUTERS: list[APIRouter] = [
    customers.router,
    accounts.router,
    cash.router,
    transfers.router,
    admin.router,
]
