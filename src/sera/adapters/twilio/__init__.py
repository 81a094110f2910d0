"""twilio adapter."""
