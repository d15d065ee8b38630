"""Settings read from files: the config file, the priority table, canned answers, holidays,
and the logging set-up. Errors are one line naming the file and the key."""
