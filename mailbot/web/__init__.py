"""The helpdesk console (``mailbot web``): the queue, a ticket, search, the dashboard and the SLA report.

Server-rendered pages in Bahasa Indonesia, read-only for now, on the deployment's database beside
``mailbot run``. The room sits above ``ops`` (it reuses the SLA report and the outbox flush) and
below ``cli``:

- ``access``: who may sign in and what they see (``Viewer``), sign-in links, sessions, CSRF
  tokens, the rate limit and the audit trail;
- ``queries``: the read side, as functions of (session, viewer, filters, now) that a benchmark
  can call;
- ``present``: values turned into Indonesian text (time left, the priority's reason, links);
- ``pages``: the routes; ``server``: the ASGI app, its security headers, and uvicorn.
"""
