"""The merchant dashboard: server-rendered pages over the capabilities."""
