"""Branch API v2: every route, translated to a call of the mock core behind it.

The API is deliberately not the mock core's: its own paths (`/api/v2/...`), camelCase fields
(`customerRef`, `accountNo`, `siteCode`), amounts as integer minor units (`amountMinor`), one
path for cash in and out, a PUT for a loan decision and a DELETE for a cancellation, its own error
shape (`errors`), OAuth2 and customer logins (`access`). Underneath, each route is one request
to the core, with the `Idempotency-Key` passed on, so the core's ledger holds what this API
acknowledged and `GET /api/v2/ledger/integrity` reports the core's own reconcile.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from examples.bindings.branch_api_server.access import CHANNELS, LEDGER_SCOPE, Access, OAuthError
from examples.bindings.branch_api_server.errors import ApiError, from_core

TITLE = "Branch API v2 (example gateway)"
CORE_TIMEOUT_S = 30.0
_EXISTS = re.compile(r"\bcustomer (\w+)\s*$")
_log = logging.getLogger("branch_api")

Minor = Annotated[StrictInt, Field(gt=0, le=10**14)]
Service = Literal["CASH", "TRANSFER", "LOAN", "WEALTH", "FX", "ENQUIRY", "COMPLAINT", "ACCOUNT"]


@dataclass(frozen=True)
class Settings:
    core: str
    """The mock core's base URL."""
    core_tokens: Mapping[str, str] = field(repr=False)
    """The core's channel tokens by core channel ("teller", "kiosk", "online")."""
    core_admin_token: str | None = field(default=None, repr=False)
    """For the ledger's integrity (the core's `/admin/reconcile`); None: not offered."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Body):
    cardNo: str | None = None
    pinCode: str | None = None
    customerRef: str | None = None
    passphrase: str | None = None


class CustomerIn(Body):
    fullName: str
    nationalId: str
    mobile: str
    tier: Literal["mass", "affluent", "private"]
    homeSite: str
    currencies: list[str]
    cardNo: str | None = None
    pinCode: str | None = None
    passphrase: str | None = None


class AccountIn(Body):
    customerRef: str
    currency: str
    product: Literal["current", "savings"] = "current"


class CashIn(Body):
    direction: Literal["in", "out"]
    accountNo: str
    amountMinor: Minor
    currency: str
    siteCode: str
    operator: str


class PaymentIn(Body):
    debitAccountNo: str
    creditAccountNo: str
    amountMinor: Minor


class TicketIn(Body):
    serviceCode: Service
    customerRef: str | None = None
    vip: StrictBool = False


class LoanIn(Body):
    customerRef: str
    principalMinor: Minor
    months: StrictInt
    purpose: str


class DecisionIn(Body):
    approved: StrictBool
    note: str = ""


class InvestmentIn(Body):
    fundCode: str
    customerRef: str
    accountNo: str
    units: StrictInt


class RateLockIn(Body):
    fromCurrency: str
    toCurrency: str
    fromAmountMinor: Minor


class ConversionIn(Body):
    lockRef: str
    debitAccountNo: str
    creditAccountNo: str


class CaseIn(Body):
    customerRef: str
    caseType: Literal["enquiry", "complaint"]
    via: Literal["counter", "kiosk", "online", "phone"]
    topic: str
    note: str


class ReplyIn(Body):
    note: str


class BookingIn(Body):
    siteCode: str
    date: str
    startsAt: str
    customerRef: str
    serviceCode: Service


@dataclass(frozen=True, slots=True)
class Caller:
    """A request's channel and what it is sent to the core with."""

    channel: str
    headers: dict[str, str]


def wire(minor: int) -> str:
    """Minor units as the core's decimal string: 12345 -> "123.45"."""
    return f"{minor // 100}.{minor % 100:02d}"


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


def account_out(account: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "accountNo": account["id"],
        "customerRef": account["customer_id"],
        "currency": account["currency"],
        "product": account["kind"],
        "balanceMinor": minor(account["balance"]),
    }


def ticket_out(ticket: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ticketRef": ticket["id"],
        "displayNo": ticket["number"],
        "siteCode": ticket["branch_id"],
        "serviceCode": ticket["service_type"].upper(),
        "state": ticket["status"],
    }


def create_app(settings: Settings, access: Access) -> FastAPI:
    """The gateway in front of `settings.core`, with the tokens and logins `access` issues."""
    core: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        async with httpx.AsyncClient(
            base_url=settings.core, timeout=CORE_TIMEOUT_S, limits=limits
        ) as client:
            core["client"] = client
            yield

    app = FastAPI(title=TITLE, version="2.0", lifespan=lifespan)

    async def call(
        caller: Caller, method: str, path: str, json: Any = None, params: Any = None
    ) -> Any:
        """The core's 2xx body; its refusal as this API's `ApiError`."""
        try:
            answer = await core["client"].request(
                method, path, json=json, params=params, headers=caller.headers
            )
        except httpx.TransportError as error:
            raise ApiError(
                503,
                "core_unavailable",
                f"the core did not answer: {type(error).__name__}",
                headers={"Retry-After": "1"},
            ) from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if 200 <= answer.status_code < 300:
            return body
        raise from_core(answer.status_code, body, answer.headers.get("Retry-After"))

    def caller(request: Request) -> Caller:
        """The request's channel, checked against its token, and its customer login if any."""
        channel = request.headers.get("X-Channel", "")
        if channel not in CHANNELS:
            raise ApiError(400, "invalid", "X-Channel: branch, kiosk or web", field="X-Channel")
        access.grant(request.headers.get("Authorization"), channel)
        login_id = request.headers.get("X-Customer-Login")
        if login_id:
            token = access.login(login_id, channel).core_token
        else:
            token = settings.core_tokens[CHANNELS[channel]]
        headers = {"Authorization": f"Bearer {token}"}
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            headers["Idempotency-Key"] = key
        return Caller(channel, headers)

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        try:
            answer = access.issue(await request.body(), request.headers.get("Authorization"))
        except OAuthError as error:
            return JSONResponse({"error": error.error}, error.status)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    @app.get("/api/v2/health")
    async def health() -> dict[str, str]:
        return {"status": "up"}

    @app.get("/api/v2/sites")
    async def sites(who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        found = await call(who, "GET", "/v1/branches")
        return [{"siteCode": b["id"], "title": b["name"], "desks": b["counters"]} for b in found]

    @app.post("/api/v2/customer-logins", status_code=201)
    async def log_in(body: LoginIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        if who.channel == "kiosk":
            given = {"card_number": body.cardNo, "pin": body.pinCode}
        elif who.channel == "web":
            given = {"customer_id": body.customerRef, "password": body.passphrase}
        else:
            raise ApiError(403, "forbidden", "customers log in on the kiosk or web channel")
        session = await call(who, "POST", "/v1/sessions", {k: v for k, v in given.items() if v})
        login = access.open_login(
            who.channel, session["customer_id"], session["session_token"], session["expires_at"]
        )
        return {
            "loginId": login,
            "customerRef": session["customer_id"],
            "validUntil": session["expires_at"],
        }

    @app.post("/api/v2/customers", status_code=201)
    async def onboard(body: CustomerIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        sent = {
            "name": body.fullName,
            "id_number": body.nationalId,
            "phone": body.mobile,
            "segment": body.tier,
            "home_branch": body.homeSite,
            "open_accounts": body.currencies,
            "card_number": body.cardNo,
            "pin": body.pinCode,
            "password": body.passphrase,
        }
        try:
            made = await call(who, "POST", "/v1/customers", {k: v for k, v in sent.items() if v})
        except ApiError as error:
            known = _EXISTS.search(error.message) if error.code == "customer_exists" else None
            if known:
                error.extra["customerRef"] = known[1]
            raise
        return {
            "customerRef": made["id"],
            "tier": made["segment"],
            "homeSite": made["home_branch"],
            "accounts": [account_out(a) for a in made["accounts"]],
        }

    @app.get("/api/v2/customers/{customer_ref}/accounts")
    async def accounts(customer_ref: str, who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        found = await call(who, "GET", f"/v1/customers/{customer_ref}/accounts")
        return [account_out(a) for a in found]

    @app.post("/api/v2/accounts", status_code=201)
    async def open_account(body: AccountIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        sent = {"customer_id": body.customerRef, "currency": body.currency, "kind": body.product}
        return account_out(await call(who, "POST", "/v1/accounts", sent))

    @app.get("/api/v2/accounts/{account_no}")
    async def account(account_no: str, who: Caller = Depends(caller)) -> dict[str, Any]:
        return account_out(await call(who, "GET", f"/v1/accounts/{account_no}"))

    @app.get("/api/v2/accounts/{account_no}/transactions")
    async def transactions(
        account_no: str,
        who: Caller = Depends(caller),
        max: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        path = f"/v1/accounts/{account_no}/statement"
        page = await call(who, "GET", path, params={"limit": max})
        entries = [
            {
                "entryRef": line["id"],
                "txnRef": line["transaction_id"],
                "type": line["kind"],
                "amountMinor": minor(line["amount"]),
                "postedAt": line["at"],
            }
            for line in page["items"]
        ]
        return {"entries": entries, "more": page["next_cursor"] is not None}

    @app.post("/api/v2/cash-movements", status_code=201)
    async def move_cash(body: CashIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        path = "/v1/cash/deposits" if body.direction == "in" else "/v1/cash/withdrawals"
        sent = {
            "account_id": body.accountNo,
            "amount": wire(body.amountMinor),
            "currency": body.currency,
            "branch_id": body.siteCode,
            "operator_id": body.operator,
        }
        receipt = await call(who, "POST", path, sent)
        return {
            "txnRef": receipt["transaction_id"],
            "accountNo": receipt["account_id"],
            "direction": receipt["direction"],
            "amountMinor": minor(receipt["amount"]),
            "balanceMinor": minor(receipt["balance"]),
        }

    @app.post("/api/v2/payments", status_code=201)
    async def pay(body: PaymentIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        sent = {
            "from_account": body.debitAccountNo,
            "to_account": body.creditAccountNo,
            "amount": wire(body.amountMinor),
        }
        paid = await call(who, "POST", "/v1/transfers", sent)
        return {
            "txnRef": paid["transaction_id"],
            "feeMinor": minor(paid["fee"]),
            "balanceMinor": minor(paid["balance"]),
        }

    @app.post("/api/v2/sites/{site}/queue-tickets", status_code=201)
    async def take_ticket(
        site: str, body: TicketIn, who: Caller = Depends(caller)
    ) -> dict[str, Any]:
        sent = {
            "service_type": body.serviceCode.lower(),
            "customer_id": body.customerRef,
            "priority": body.vip,
        }
        return ticket_out(await call(who, "POST", f"/v1/branches/{site}/tickets", sent))

    @app.post("/api/v2/sites/{site}/desks/{desk}/next")
    async def call_next(site: str, desk: str, who: Caller = Depends(caller)) -> dict[str, Any]:
        path = f"/v1/branches/{site}/counters/{desk}/call-next"
        called = (await call(who, "POST", path))["ticket"]
        return {"called": None if called is None else ticket_out(called)}

    @app.post("/api/v2/queue-tickets/{ticket_ref}/done")
    async def done(ticket_ref: str, who: Caller = Depends(caller)) -> dict[str, Any]:
        return ticket_out(await call(who, "POST", f"/v1/tickets/{ticket_ref}/complete"))

    @app.post("/api/v2/loan-applications", status_code=201)
    async def apply_loan(body: LoanIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        sent = {
            "customer_id": body.customerRef,
            "amount": wire(body.principalMinor),
            "term_months": body.months,
            "purpose": body.purpose,
        }
        loan = await call(who, "POST", "/v1/loans", sent)
        return {"applicationRef": loan["id"], "state": loan["status"]}

    @app.put("/api/v2/loan-applications/{ref}/decision")
    async def decide_loan(
        ref: str, body: DecisionIn, who: Caller = Depends(caller)
    ) -> dict[str, Any]:
        sent = {"decision": "approve" if body.approved else "reject", "reason": body.note}
        loan = await call(who, "POST", f"/v1/loans/{ref}/decision", sent)
        return {"applicationRef": loan["id"], "state": loan["status"]}

    @app.post("/api/v2/investments", status_code=201)
    async def invest(body: InvestmentIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        sent = {
            "product_id": body.fundCode,
            "customer_id": body.customerRef,
            "account_id": body.accountNo,
            "units": body.units,
        }
        order = await call(who, "POST", "/v1/wealth/orders", sent)
        return {
            "orderRef": order["id"],
            "txnRef": order["transaction_id"],
            "amountMinor": minor(order["amount"]),
            "unitsLeft": order["remaining_units"],
        }

    @app.post("/api/v2/fx/rate-locks", status_code=201)
    async def lock_rate(body: RateLockIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        sent = {
            "sell_currency": body.fromCurrency,
            "buy_currency": body.toCurrency,
            "sell_amount": wire(body.fromAmountMinor),
        }
        quote = await call(who, "POST", "/v1/fx/quotes", sent)
        return {
            "lockRef": quote["quote_id"],
            "toAmountMinor": minor(quote["buy_amount"]),
            "rate": quote["rate"],
            "validUntil": quote["expires_at"],
        }

    @app.post("/api/v2/fx/conversions", status_code=201)
    async def convert(body: ConversionIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        sent = {
            "quote_id": body.lockRef,
            "from_account": body.debitAccountNo,
            "to_account": body.creditAccountNo,
        }
        done = await call(who, "POST", "/v1/fx/exchanges", sent)
        return {"txnRef": done["transaction_id"], "toAmountMinor": minor(done["buy_amount"])}

    @app.post("/api/v2/cases", status_code=201)
    async def open_case(body: CaseIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        sent = {
            "customer_id": body.customerRef,
            "kind": body.caseType,
            "channel": body.via,
            "subject": body.topic,
            "text": body.note,
        }
        case = await call(who, "POST", "/v1/enquiries", sent)
        return {"caseRef": case["id"], "state": case["status"]}

    @app.post("/api/v2/cases/{case_ref}/replies")
    async def reply(case_ref: str, body: ReplyIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        path = f"/v1/enquiries/{case_ref}/answers"
        case = await call(who, "POST", path, {"text": body.note})
        return {"caseRef": case["id"], "state": case["status"]}

    @app.post("/api/v2/cases/{case_ref}/resolution")
    async def resolve(case_ref: str, who: Caller = Depends(caller)) -> dict[str, Any]:
        case = await call(who, "POST", f"/v1/enquiries/{case_ref}/close")
        return {"caseRef": case["id"], "state": case["status"]}

    @app.get("/api/v2/sites/{site}/availability")
    async def availability(site: str, date: str, who: Caller = Depends(caller)) -> dict[str, Any]:
        day = await call(who, "GET", f"/v1/branches/{site}/slots", params={"day": date})
        openings = [
            {"startsAt": s["start"], "endsAt": s["end"], "seatsLeft": s["available"]}
            for s in day["slots"]
        ]
        return {"siteCode": site, "date": date, "openings": openings}

    @app.post("/api/v2/bookings", status_code=201)
    async def book(body: BookingIn, who: Caller = Depends(caller)) -> dict[str, Any]:
        sent = {
            "branch_id": body.siteCode,
            "day": body.date,
            "start": body.startsAt,
            "customer_id": body.customerRef,
            "service_type": body.serviceCode.lower(),
        }
        booked = await call(who, "POST", "/v1/appointments", sent)
        return {"bookingRef": booked["id"], "state": booked["status"]}

    @app.delete("/api/v2/bookings/{ref}")
    async def cancel(ref: str, who: Caller = Depends(caller)) -> dict[str, Any]:
        cancelled = await call(who, "POST", f"/v1/appointments/{ref}/cancel")
        return {"bookingRef": cancelled["id"], "state": cancelled["status"]}

    @app.post("/api/v2/bookings/{ref}/arrival")
    async def arrive(ref: str, who: Caller = Depends(caller)) -> dict[str, Any]:
        arrived = await call(who, "POST", f"/v1/appointments/{ref}/check-in")
        return {
            "bookingRef": arrived["id"],
            "state": arrived["status"],
            "ticketRef": arrived["ticket"]["id"],
        }

    @app.get("/api/v2/ledger/integrity")
    async def integrity(request: Request) -> dict[str, Any]:
        access.grant(request.headers.get("Authorization"), LEDGER_SCOPE)
        if settings.core_admin_token is None:
            raise ApiError(501, "not_configured", "this gateway was given no core admin token")
        admin = Caller("", {"Authorization": f"Bearer {settings.core_admin_token}"})
        books = await call(admin, "GET", "/admin/reconcile")
        checks = [
            {"check": c["name"], "about": c["description"], "passed": c["ok"], **c["figures"]}
            for c in books["checks"]
        ]
        return {"balanced": books["ok"], "checks": checks}

    _errors(app)
    return app


def _errors(app: FastAPI) -> None:
    """Every error in this API's shape (`errors.ApiError`), none as a bare framework page."""

    async def on_api(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def on_invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "body"
        return ApiError(400, "invalid", f"{where}: {first['msg']}", field=where).response()

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return ApiError(exc.status_code, code, str(exc.detail), headers=exc.headers).response()

    async def on_crash(request: Request, exc: Exception) -> Response:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return ApiError(500, "internal", "the gateway failed; see its log").response()

    app.add_exception_handler(ApiError, on_api)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
