"""Database: where data lives and how a query runs

With the database on, notes live in SQLite, a database in one file that survives
restarts; every statement a request runs shows in its record. Switch it off and
the same notes API keeps working on notes held in the server's memory, which
vanish when the server stops.
"""

from sandbox.registry import Module

from .challenges import CHALLENGES
from .storage import SQLiteStorage
from .views import bp

module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    challenges=CHALLENGES,
    provides={"note_storage": SQLiteStorage()},
    nav_links=(("SQL console", "database.console"),),
)
