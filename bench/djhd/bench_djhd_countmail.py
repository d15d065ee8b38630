"""Django's SMTP e-mail backend, logging each accepted message's recipients (one JSON line)."""

import json
import os

from django.core.mail.backends.smtp import EmailBackend


class CountingSMTPBackend(EmailBackend):
    def _send(self, email_message):
        ok = super()._send(email_message)
        if ok:
            path = os.path.join(os.environ.get("BENCH_DJHD_DIR", "/tmp/djhd-bench"), "sent.jsonl")
            with open(path, "a") as fh:
                fh.write(json.dumps({"to": list(email_message.recipients())}) + "\n")
        return ok
