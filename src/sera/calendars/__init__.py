"""Staff members' own calendars (CalDAV: Google, iCloud, Fastmail, Nextcloud, Zoho).

Invariants:
- A calendar's busy times block slots through a cache (``CalendarBusyTime``) refreshed in
  the background, so the availability search never waits on a calendar server and keeps
  answering when one is down; the chosen slot is checked live before a booking is
  confirmed (``sera.calendars.busy.LiveCheck``, the booking engine's port).
- Sera's bookings are written to the staff member's calendar by a job that carries ids;
  the write owed is recorded in the booking's own transaction (``sera.calendars.events``).
- An event the staff member deleted from their calendar is a conflict shown in the
  dashboard; the customer's appointment stays booked.
- Credentials (URL, username, app password) are sealed under the shop's key; the wire is
  ``sera.adapters.caldav``, handed in as an ``Opener``.
"""
