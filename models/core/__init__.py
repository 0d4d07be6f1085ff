"""Infrastructure every domain stands on: the declarative base, engines and sessions, the embedded
PostgreSQL server, migrations, settings, user-facing errors and the audit log.
"""
