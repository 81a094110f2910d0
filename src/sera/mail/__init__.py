"""Email to the business: notifications, reports, invoices.

Invariants:
- A mail is built when it is queued (templates rendered, headers checked), in the transaction
  of the change it reports: a change that rolls back sends nothing. Its ``key`` is unique per
  shop, so the same event queued twice is one mail.
- The message is sealed (under the customer's key when it carries a customer's details, so
  erasure shreds an unsent one) and dropped once sent; the row keeps ids, counts and status.
- Sending is claimed before the server is spoken to; a server that is down or answers 4xx is
  tried again with backoff for three days; a 5xx refusal marks the mail ``failed`` at once.
  Each attempt carries the same ``Message-ID``.
- Without ``SERA_SMTP_URL`` (the embedded default) mail is written to the Maildir
  ``SERA_MAIL_DIR`` (``var/mail/``), so a demo shows every email.
"""
