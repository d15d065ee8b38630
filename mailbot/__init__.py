"""mailbot: an e-mail helpdesk bot that runs the LPSE trouble-ticket SOP over IMAP and SMTP.

The package is layered; each room may import only the rooms below it (``.importlinter``):

- ``core``: pure decisions (parsing, threads, rules, commands, triage, workflow, clocks);
  no I/O, no clock reads: ``now`` is passed in.
- ``settings``: the config file, the priority table, canned answers, holidays, logging.
- ``storage``: the database (SQLAlchemy models, queries, Alembic migrations).
- ``mail``: IMAP intake, the SMTP outbox, composing and rendering mail, OAuth2.
- ``service``: one inbound mail = one transaction; effects, template context, SLA jobs.
- ``ops``: the run loop, health and status, metrics, reports, privacy.
- ``cli``: the command line on top.
"""
