"""Twilio: phone calls and texts (signed webhooks in, TwiML out) and its REST API (texts, calls)."""
