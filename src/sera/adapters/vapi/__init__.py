"""vapi adapter."""
