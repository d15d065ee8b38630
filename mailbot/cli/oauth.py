"""``oauth authorize``: the OAuth2 consent of a mailbox in a browser, once; the refresh token is printed."""

from __future__ import annotations

import argparse
import sys

from mailbot.settings import logs
from mailbot.settings.config import Settings


def authorize(settings: Settings, args: argparse.Namespace) -> int:
    """``oauth authorize``: the consent in a browser; the refresh token alone on stdout."""
    from mailbot.mail import consent

    one = settings
    if args.helpdesk is not None:
        chosen = [s for s in settings.per_helpdesk() if s.helpdesk_key == args.helpdesk]
        if not chosen:
            print(f"no helpdesk {args.helpdesk!r} in the config", file=sys.stderr)
            return 2
        one = chosen[0]
    names = [args.server] if args.server else [n for n in ("imap", "smtp") if getattr(one, n).auth == "xoauth2"]
    server = getattr(one, names[0]) if names else None
    if server is None or server.auth != "xoauth2" or server.oauth2 is None:
        print(f"[{args.server or 'imap'}] does not use auth = \"xoauth2\": there is nothing to authorize",
              file=sys.stderr)
        return 2
    oauth2, name = server.oauth2, names[0]
    where = "oauth2" if one.oauth2 is not None and oauth2 == one.oauth2 else f"{name}.oauth2"  # for messages
    redirect = args.redirect_uri or f"http://127.0.0.1:{args.port}/"
    try:
        listener = None if args.paste else consent.RedirectListener(redirect)
        try:
            started = consent.begin(oauth2, listener.redirect_uri if listener else redirect,
                                    login_hint=server.username)
            if listener is not None:
                listener.state = started.state
            print(f"Sign in as {server.username} and consent (mailbot client {oauth2.client_id}) at:\n\n"
                  f"  {started.url}\n", file=sys.stderr)
            if listener is not None:
                print(f"Waiting for the browser at {listener.redirect_uri} (up to {args.timeout:.0f} s)...",
                      file=sys.stderr, flush=True)
                redirected = listener.wait(args.timeout)
            else:
                print("Then paste the whole address the browser ended on (it may show an error page):",
                      file=sys.stderr, flush=True)
                redirected = sys.stdin.readline()
        finally:
            if listener is not None:
                listener.close()
        tokens = consent.exchange(oauth2, started, consent.code_from_redirect(started, redirected), where=where)
    except consent.ConsentError as exc:
        print(f"consent failed: {exc}", file=sys.stderr)
        return 1
    logs.register_secret(tokens.refresh_token)
    logs.register_secret(tokens.access_token)
    target = (f"the variable {oauth2.refresh_token_env} (refresh_token_env), e.g. in /etc/mailbot/mailbot.env"
              if oauth2.refresh_token_env else f"{where}.refresh_token")
    print(f"Consent given (scope: {tokens.scope or '-'}). The refresh token is on standard output; put it in "
          f"{target}, then run check-config.", file=sys.stderr)
    print(tokens.refresh_token)
    return 0
