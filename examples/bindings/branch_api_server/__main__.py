"""`python -m examples.bindings.branch_api_server`: the gateway on loopback, until stopped.

Secrets come from the environment, never the command line:

    BRANCH_API_CLIENT_ID, BRANCH_API_CLIENT_SECRET   the one OAuth2 client it knows
    BRANCH_API_CLIENT_SCOPES                         its scopes (default: branch kiosk web ledger)
    BRANCH_API_CORE_TELLER_TOKEN, _KIOSK_, _ONLINE_  the core's channel tokens (default: the
                                                     mock core's own, docs/mock-core.md)
    BRANCH_API_CORE_ADMIN_TOKEN                      the core's admin token, for the ledger's
                                                     integrity (unset: not offered)
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from examples.bindings.branch_api_server.access import SCOPES, Access, Client
from examples.bindings.branch_api_server.app import Settings, create_app

LOCAL_CORE_TOKENS = {
    "teller": "teller-local-token",
    "kiosk": "kiosk-local-token",
    "online": "online-local-token",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.bindings.branch_api_server")
    parser.add_argument("--core", required=True, metavar="URL", help="the mock core behind it")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument(
        "--token-ttl", type=float, default=300.0, metavar="S", help="access tokens' lifetime"
    )
    args = parser.parse_args(argv)
    env = os.environ
    client_id, secret = env.get("BRANCH_API_CLIENT_ID"), env.get("BRANCH_API_CLIENT_SECRET")
    if not client_id or not secret:
        print("error: set BRANCH_API_CLIENT_ID and BRANCH_API_CLIENT_SECRET", file=sys.stderr)
        return 2
    scopes = frozenset(env.get("BRANCH_API_CLIENT_SCOPES", " ".join(SCOPES)).split())
    if not scopes <= SCOPES:
        print(
            f"error: BRANCH_API_CLIENT_SCOPES: {' '.join(sorted(scopes - SCOPES))} unknown",
            file=sys.stderr,
        )
        return 2
    if not args.core.startswith(("http://", "https://")):
        print(f"error: --core: {args.core!r} is not an http(s) URL", file=sys.stderr)
        return 2
    if args.token_ttl <= 0:
        print("error: --token-ttl: a positive number of seconds", file=sys.stderr)
        return 2
    core_tokens = {
        who: env.get(f"BRANCH_API_CORE_{who.upper()}_TOKEN", token)
        for who, token in LOCAL_CORE_TOKENS.items()
    }
    settings = Settings(args.core, core_tokens, env.get("BRANCH_API_CORE_ADMIN_TOKEN"))
    access = Access({client_id: Client(client_id, secret, scopes)}, args.token_ttl)
    app = create_app(settings, access)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
