"""Running it: the poll/IDLE loop, health and ``status``, metrics, the instance lock, reports,
personal-data export and erasure, and the evaluation commands."""
