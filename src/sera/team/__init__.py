"""The merchant's team: members with roles, their passwords and second factor, their sessions
in the dashboard, and invitations. What each role may do is one table, ``permissions.md``."""
