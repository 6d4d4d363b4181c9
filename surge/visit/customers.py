"""The customers a rehearsal serves: generated people, onboarding them, a CSV data pool, picking.

Each worker generates its people once, before the load, from the run's seed (`generate`), takes
its share (`worker_share`) and onboards them through the API (`onboard`); against systems that
cannot onboard, `load_pool` reads existing test customers from a CSV file instead. Either way the
journeys draw customers from a `Pool`, which costs one random index per draw, so customer data
never slows the load. Nothing here imports the mock core: the harness talks to it over HTTP only.

A customer carries the credentials its visits log in with (a kiosk session: card number and PIN;
an online session: customer number and password). They stay in memory: nothing here writes,
logs or words an error with one, and `Customer`'s repr leaves them out. Against a system other
than the embedded core they derive from a secret besides the seed (`customer_secret`), since
`run.json` records the seed.
"""

from __future__ import annotations

import csv
import hashlib
import random
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

from faker import Faker
from faker.providers.ssn.zh_CN import Provider as _ChineseSsn

from surge.visit.binding import Binding
from surge.visit.values import SEGMENTS, Customer, CustomerSegment, Person, PoolError
from surge.visit.wire import PlainClient, PlainWire, PushBack

POOL_COLUMNS = ("customer_id", "account_id", "currency", "segment", "home_branch")
CREDENTIAL_COLUMNS = ("card_number", "pin", "password")
"""A data pool's optional columns: what a kiosk visit (card number, PIN) and an online visit
(password) log in with."""
LOGIN: dict[str, tuple[str, ...]] = {"kiosk": ("card_number", "pin"), "online": ("password",)}
"""The credentials each channel's session is opened with (the online one with the customer id)."""
PIN_DIGITS = 6
PASSWORD_LENGTH = (8, 64)
"""The shortest and longest password the systems take."""
_GENERATED_PASSWORD = 16
_PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# County-level codes only: a code ending in 00 names a province or prefecture, never a person's.
_AREA_CODES = tuple(c for c in _ChineseSsn.area_codes if not c.endswith("00"))
_BIRTH_FIRST = date(1946, 1, 1).toordinal()  # fixed, not today: a seed gives the same people
_BIRTH_DAYS = date(2006, 12, 31).toordinal() - _BIRTH_FIRST + 1  # adults aged about 18 to 80
_CARD_BINS = ("622202", "621700", "622848", "621661", "622588", "620522")  # UnionPay issuers
_PRIVATE_SHARE = 0.2  # of high-value customers; the rest are affluent
_PHONE_TRIES = 100

T = TypeVar("T")


def resident_id_check_digit(first17: str) -> str:
    """The 18th character of a PRC resident ID number (GB 11643-1999, ISO 7064 MOD 11-2)."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload` + digit pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


CUSTOMER_SECRET_ENV = "SURGE_CUSTOMER_SECRET"
"""Where a team keeps the secret its rehearsals' people derive from (docs/bindings.md)."""


def customer_secret(embedded_core: bool, environ: Mapping[str, str]) -> str | None:
    """What a run's people derive from besides the seed (`generate`), never recorded: the
    seed is in `run.json`, and people made from it alone log in with credentials anyone who
    reads the run folder can make again. `SURGE_CUSTOMER_SECRET` when set; else, against a
    system other than the embedded core, a secret made for this run (its people then are new
    ones, onboarded afresh, at each run); None for the embedded core, which lives and dies with
    the run, so a seed replays the same people there."""
    given = environ.get(CUSTOMER_SECRET_ENV)
    if given:
        return given
    return None if embedded_core else secrets.token_hex(16)


def generate(
    count: int,
    *,
    seed: int,
    locale: str = "zh_CN",
    branches: Sequence[str],
    high_value_share: float,
    secret: str | None = None,
) -> list[Person]:
    """`count` people, the same for the same arguments, with ID numbers unique among them.

    Names and phones come from Faker in `locale`; resident ID numbers are always PRC numbers
    (the bank is Chinese whoever walks in), and those and the cards are drawn from a seeded
    `random.Random`, which is several times faster than Faker's providers. Exactly
    `round(count * high_value_share)` people are affluent or private. Each person's PIN and
    password come from a stream of their own, seeded from `seed` too, so a run replays its
    logins and the people of a seed are the ones they were before people had credentials.
    With a `secret` (`customer_secret`), everything derives from the seed and the secret: the
    seed alone then makes neither the people nor their credentials.
    """
    drawn: int | str = seed if secret is None else f"{seed}:{secret}"
    if count < 0:
        raise ValueError(f"count {count} is negative")
    if not branches:
        raise ValueError("branches is empty: people need a home branch")
    if not 0 <= high_value_share <= 1:
        raise ValueError(f"high_value_share {high_value_share} is not between 0 and 1")
    try:
        fake = Faker(locale)
    except AttributeError as error:  # Faker's way of saying it has no such locale
        raise ValueError(f"{locale!r} is not a Faker locale") from error
    if not hasattr(fake, "phone_number"):
        raise ValueError(f"Faker's {locale!r} locale has no phone numbers")
    fake.seed_instance(drawn)
    rng = random.Random(drawn)
    logins = random.Random(f"credentials {drawn}")
    high = set(rng.sample(range(count), round(count * high_value_share)))
    taken: set[str] = set()
    people = []
    for i in range(count):
        id_number = _resident_id(rng)
        while id_number in taken:
            id_number = _resident_id(rng)
        taken.add(id_number)
        segment: CustomerSegment = "mass"
        if i in high:
            segment = "private" if rng.random() < _PRIVATE_SHARE else "affluent"
        people.append(
            Person(
                name=fake.name(),
                id_number=id_number,
                phone=_phone(fake),
                card_number=_card_number(rng),
                segment=segment,
                home_branch=rng.choice(branches),
                pin=f"{logins.randrange(10**PIN_DIGITS):0{PIN_DIGITS}d}",
                password="".join(logins.choices(_PASSWORD_ALPHABET, k=_GENERATED_PASSWORD)),
            )
        )
    return people


def _resident_id(rng: random.Random) -> str:
    born = date.fromordinal(_BIRTH_FIRST + rng.randrange(_BIRTH_DAYS))
    first17 = f"{rng.choice(_AREA_CODES)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + resident_id_check_digit(first17)


def _card_number(rng: random.Random) -> str:
    # UnionPay debit cards are mostly 19 digits, credit cards 16.
    length = 19 if rng.random() < 0.7 else 16
    payload = f"{rng.choice(_CARD_BINS)}{rng.randrange(10 ** (length - 7)):0{length - 7}d}"
    return payload + luhn_check_digit(payload)


def _phone(fake: Faker) -> str:
    """A phone number of the locale, as digits (and a leading +) without formatting.

    Faker writes numbers as people do ("(555) 123-4567x89", in local digits); systems take the
    digits. Some locales mix in short service numbers ("997"), which nobody gives as theirs.
    """
    for _ in range(_PHONE_TRIES):
        raw = re.split(r"[xX]|ext", fake.phone_number(), maxsplit=1)[0]
        digits = "".join(str(unicodedata.decimal(ch)) for ch in raw if ch.isdecimal())
        if len(digits) >= 7:
            return ("+" + digits if raw.lstrip().startswith("+") else digits)[:20]
    raise ValueError(f"Faker gave no phone number of 7 digits or more in {_PHONE_TRIES} tries")


def worker_share(items: Sequence[T], worker: int, workers: int) -> list[T]:
    """Worker `worker`'s share of `items` (round robin): disjoint, together all of them."""
    if workers < 1 or not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not one of {workers} workers")
    return list(items[worker::workers])


ONBOARDING_CONCURRENCY = 16
"""Onboarding requests in flight at once.

The customer and cash routes run in the mock core's `teller-core` lane (docs/capacity.md): 48
slots of about 55 ms each. Sixteen in flight is a third of those slots: onboarding never waits in
the lane's queue, leaves two thirds of the lane to whatever else a shared target serves, and fits
httpx's 20 kept-alive connections. Measured against the mock core's default lanes, 200 customers
take about 26 s one at a time, 1.7 s at 16 and 0.9 s at all 48 slots: the last second is not
worth taking a whole teller front end of a real system.
"""


def onboard(
    client: PlainClient, people: Sequence[Person], *, binding: Binding, key_prefix: str
) -> list[Customer]:
    """Onboard `people` through the binding (`Binding.onboard`), in order of `people`.

    Up to `ONBOARDING_CONCURRENCY` people are onboarded at once, each by one thread (a greenlet
    under Locust's gevent), one request after another; the client must be safe to share across
    threads (httpx.Client is). A request the target refuses for want of capacity (503, 504) is
    sent again with its own key after its `Retry-After`, up to `PUSH_BACK_TRIES` sends, and from
    then on onboarding sends one request at a time (`PlainWire`). Each distinct person is
    onboarded once, so a person listed twice gets the same customer without two requests racing
    on one key. The first refusal in the order of `people` is raised; people not started by then
    are not onboarded.

    Everyone gets a CNY account, high-value customers a USD account too, and a new customer pays
    in opening cash at the home branch (`opening_cash`): a customer with empty accounts would
    meet "insufficient funds" on every withdrawal and transfer of the rehearsal. The idempotency
    keys are hashes of `key_prefix` and the ID number (a key never carries personal data), so a
    rerun with the same prefix is answered from the first run's responses. Each person's card
    number, PIN and password are sent with them (the system keeps them for the kiosk and online
    logins); a customer the system already knew keeps the person's, which are the system's when
    the same seed onboarded them.
    """
    gate = PushBack(ONBOARDING_CONCURRENCY)
    first_seen: dict[Person, int] = {}
    for n, person in enumerate(people, 1):
        first_seen.setdefault(person, n)

    def one(person: Person, n: int) -> Customer:
        digest = hashlib.sha256(f"{key_prefix}\0{person.id_number}".encode()).hexdigest()
        wire = PlainWire(client, gate, f"onboarding person {n} of {len(people)}")
        key = f"{key_prefix}-{digest[:32]}"
        return binding.onboard(wire, person, key, opening_cash(person, digest))

    with ThreadPoolExecutor(ONBOARDING_CONCURRENCY, thread_name_prefix="onboard") as pool:
        futures = {person: pool.submit(one, person, n) for person, n in first_seen.items()}
        try:
            onboarded = {person: future.result() for person, future in futures.items()}
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    return [onboarded[person] for person in people]


def opening_cash(person: Person, digest: str) -> dict[str, int]:
    """Opening cash in minor units by currency (the accounts to open), varied per person by the
    key digest so a pool is not uniform.

    Each customer's total stays under RMB 50,000, the large-cash reporting threshold, so
    onboarding itself raises no anti-money-laundering alert the rehearsal did not ask for.
    """
    spread = int(digest[:8], 16) / 0xFFFFFFFF
    if not person.high_value:
        return {"CNY": 500_000 + round(1_000_000 * spread)}
    return {"CNY": 2_000_000 + round(1_000_000 * spread), "USD": 150_000 + round(100_000 * spread)}


def load_pool(path: Path | str, logins: Collection[str] = ()) -> list[Customer]:
    """Existing test customers from a `--data-pool` CSV, one row per account.

    Columns (in any order, others ignored): `customer_id,account_id,currency,segment,home_branch`,
    and optionally `card_number,pin,password` (`CREDENTIAL_COLUMNS`), which may be left empty.
    A customer's rows are consecutive and agree on segment, home branch and credentials; every
    customer needs a CNY account (the journeys move cash in CNY). `logins` names the channels
    the customers will log in to (`LOGIN`): each customer needs that channel's credentials, since
    any customer may be drawn for any visit. Problems raise `PoolError` with one line
    `file: line N: column: reason`, which never quotes a credential.
    """
    name = str(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return _parse_pool(name, handle, logins)
    except OSError as error:
        raise PoolError(f"{name}: cannot read: {error.strerror or error}") from error
    except (UnicodeDecodeError, csv.Error) as error:
        raise PoolError(f"{name}: not a UTF-8 CSV file: {error}") from error


@dataclass
class _Draft:
    line: int
    customer_id: str
    segment: str
    home_branch: str
    credentials: dict[str, str]
    accounts: dict[str, list[str]]


def _parse_pool(name: str, lines: Iterable[str], logins: Collection[str]) -> list[Customer]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise PoolError(f"{name}: line 1: header: the file is empty")
    header = [h.strip() for h in header]
    missing = [c for c in POOL_COLUMNS if c not in header]
    if missing:
        raise PoolError(f"{name}: line 1: header: missing columns {', '.join(missing)}")
    for channel in logins:
        absent = [c for c in LOGIN[channel] if c not in header]
        if absent:
            raise PoolError(
                f"{name}: line 1: header: no {' and no '.join(absent)} column, and {channel}"
                f" visits log in with {_LOGIN_WORDS[channel]}"
            )
    at = {c: header.index(c) for c in POOL_COLUMNS}
    secret_at = {c: header.index(c) for c in CREDENTIAL_COLUMNS if c in header}
    drafts: dict[str, _Draft] = {}
    accounts_seen: dict[str, int] = {}
    cards: dict[str, _Draft] = {}
    last = None
    for row in reader:
        line = reader.line_num
        if not any(v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise PoolError(
                f"{name}: line {line}: row: {len(row)} values for {len(header)} columns"
            )
        where = f"{name}: line {line}"
        values = {c: row[i].strip() for c, i in at.items()}
        for column, value in values.items():
            if not value:
                raise PoolError(f"{where}: {column}: is empty")
            if any(ch.isspace() for ch in value):
                raise PoolError(f"{where}: {column}: {value!r} contains spaces")
        if values["segment"] not in SEGMENTS:
            raise PoolError(
                f"{where}: segment: {values['segment']!r} is not one of {', '.join(SEGMENTS)}"
            )
        if not re.fullmatch(r"[A-Z]{3}", values["currency"]):
            raise PoolError(
                f"{where}: currency: {values['currency']!r} is not a three-letter ISO code"
            )
        credentials = _credentials(where, {c: row[i] for c, i in secret_at.items()})
        account = values["account_id"]
        if account in accounts_seen:
            raise PoolError(
                f"{where}: account_id: {account} is already on line {accounts_seen[account]}"
            )
        accounts_seen[account] = line
        customer = values["customer_id"]
        draft = drafts.get(customer)
        if draft is None:
            segment, branch = values["segment"], values["home_branch"]
            draft = _Draft(line, customer, segment, branch, credentials, {})
            drafts[customer] = draft
            card = credentials.get("card_number")
            if card and (holder := cards.setdefault(card, draft)) is not draft:
                raise PoolError(
                    f"{where}: card_number: the same card as {holder.customer_id}'s on line"
                    f" {holder.line}"
                )
        elif last != customer:
            raise PoolError(
                f"{where}: customer_id: {customer} reappears after other customers"
                f" (first on line {draft.line}); list a customer's rows together"
            )
        for column in ("segment", "home_branch"):
            if values[column] != getattr(draft, column):
                raise PoolError(
                    f"{where}: {column}: {values[column]!r} differs from"
                    f" {getattr(draft, column)!r} on line {draft.line} for {customer}"
                )
        for column in secret_at:
            if credentials.get(column) != draft.credentials.get(column):
                raise PoolError(f"{where}: {column}: differs from line {draft.line} for {customer}")
        draft.accounts.setdefault(values["currency"], []).append(account)
        last = customer
    if not drafts:
        raise PoolError(f"{name}: line {reader.line_num + 1}: customer_id: no customers listed")
    for draft in drafts.values():
        if "CNY" not in draft.accounts:
            raise PoolError(
                f"{name}: line {draft.line}: currency: {draft.customer_id} has no CNY account"
            )
        for channel in logins:
            for column in LOGIN[channel]:
                if column not in draft.credentials:
                    raise PoolError(
                        f"{name}: line {draft.line}: {column}: {draft.customer_id} has none,"
                        f" and {channel} visits log in with {_LOGIN_WORDS[channel]}"
                    )
    return [
        Customer(
            d.customer_id,
            d.segment,
            d.home_branch,
            {currency: tuple(ids) for currency, ids in d.accounts.items()},
            **d.credentials,
        )
        for d in drafts.values()
    ]


_LOGIN_WORDS = {"kiosk": "a card number and PIN", "online": "a password"}


def _credentials(where: str, given: Mapping[str, str]) -> dict[str, str]:
    """A row's credentials that are not empty, checked (and never quoted: they are secrets)."""
    found = {column: value for column, value in given.items() if value.strip()}
    card, pin, password = (found.get(c) for c in CREDENTIAL_COLUMNS)
    if card is not None:
        card = found["card_number"] = card.strip()
        if not (card.isascii() and card.isdigit() and 16 <= len(card) <= 19):
            raise PoolError(f"{where}: card_number: is not 16 to 19 digits")
        if luhn_check_digit(card[:-1]) != card[-1]:
            raise PoolError(f"{where}: card_number: fails the Luhn check")
    if pin is not None:
        pin = found["pin"] = pin.strip()
        if not (pin.isascii() and pin.isdigit() and len(pin) == PIN_DIGITS):
            raise PoolError(f"{where}: pin: is not {PIN_DIGITS} digits")
    if (card is None) != (pin is None):
        given_one, other = ("card_number", "pin") if pin is None else ("pin", "card_number")
        raise PoolError(f"{where}: {other}: is empty, and a {given_one} needs one")
    if password is not None:
        shortest, longest = PASSWORD_LENGTH
        if password != password.strip():
            raise PoolError(f"{where}: password: begins or ends with a space")
        if not shortest <= len(password) <= longest:
            raise PoolError(
                f"{where}: password: {len(password)} characters, not {shortest} to {longest}"
            )
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in password):
            raise PoolError(f"{where}: password: contains a control character")
    return found


class Pool:
    """The customers one worker's journeys draw from; a draw costs one random index.

    A pool with no high-value customers (a data pool may have none) serves high-value visits from
    everyone, and one with only high-value customers serves everyone from them: the visit still
    runs, with the customer the system has.
    """

    __slots__ = ("_high", "_mass", "customers")

    def __init__(self, customers: Sequence[Customer]) -> None:
        if not customers:
            raise PoolError("the customer pool is empty")
        self.customers: tuple[Customer, ...] = tuple(customers)
        high = tuple(c for c in self.customers if c.high_value)
        mass = tuple(c for c in self.customers if not c.high_value)
        self._high = high or self.customers
        self._mass = mass or self.customers

    def __len__(self) -> int:
        return len(self.customers)

    def pick(self, rng: random.Random, high_value: bool = False) -> Customer:
        """A customer of the wanted kind, uniformly."""
        group = self._high if high_value else self._mass
        return group[rng.randrange(len(group))]

    def pair(self, rng: random.Random) -> tuple[Customer, Customer]:
        """A payer and a different payee, uniformly among the ordered pairs."""
        everyone = self.customers
        n = len(everyone)
        if n < 2:
            raise PoolError("a transfer needs two customers; the pool has one")
        i = rng.randrange(n)
        j = rng.randrange(n - 1)
        return everyone[i], everyone[j + 1 if j >= i else j]

    def for_worker(self, worker: int, workers: int) -> Pool:
        """This worker's share (`worker_share`), so workers never serve the same customer."""
        share = worker_share(self.customers, worker, workers)
        if not share:
            raise PoolError(f"{len(self.customers)} customers are too few for {workers} workers")
        return Pool(share)
