"""People and access: users, roles, sessions, invitations, personal access tokens."""
