"""People and what they may do: accounts, roles, password sign-in, and the action-to-roles table
every service checks.
"""
