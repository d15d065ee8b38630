"""Where the core meets storage and mail: one inbound mail = one transaction (dedupe, thread,
triage, decide, store, queue the replies), the effects of decisions, and the SLA jobs."""
