"""Telling the business: who at the shop hears of which event, by email or SMS.

Invariants:
- A notification is recorded in the transaction of the event it reports, once per event,
  contact and channel (``event_key`` is unique with them): an event seen twice (a retried
  webhook, a sweep that runs again) tells nobody twice.
- A shop with no contacts tells its owner (the shop's email) of every event by email.
- Email goes through ``sera.mail``; an SMS waits out the contact's quiet hours, then is sent
  once by its job (claimed first; retried with backoff while the provider is unreachable).
- What is sent repeats no more personal data than the purpose needs: a message taken carries
  the caller's name, number and words (the business calls back); every other event carries
  ids, counts and deadlines. Rows that carry a customer's details are sealed under the
  customer's key (erasure shreds an unsent one).
"""
