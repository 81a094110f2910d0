"""Local stand-ins for providers that cannot be reached from the tests."""
