"""Alembic's environment for losslab serve: the connection comes from :func:`losslab.serve.db.migrate`."""

from alembic import context

from losslab.serve.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
