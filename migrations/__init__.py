"""Alembic migrations, shipped inside the distribution so `rubricforge db upgrade` works
anywhere."""
