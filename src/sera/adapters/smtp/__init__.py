"""Email out: an SMTP server (plain, STARTTLS or implicit TLS), or a local Maildir."""
