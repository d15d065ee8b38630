"""Mail in and out: IMAP intake (imap-tools), the SMTP outbox (aiosmtplib), composing and
rendering messages (jinja2), OAuth2 for XOAUTH2 mailboxes."""
