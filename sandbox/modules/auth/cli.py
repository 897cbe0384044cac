"""Accounts on the command line: ``python app.py users add NAME --role instructor``, ``users list``.

An instructor cannot register through the web (anyone could); whoever runs the server
makes one here. The same commands work as ``flask --app app users ...``.
"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from sandbox.errors import ValidationFailed

from . import accounts

users_cli = AppGroup("users", help="Make and list accounts (for the auth module).")


@users_cli.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(accounts.ROLES), default="student", show_default=True)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of asking "
    "(for scripts: a password in a command's arguments shows in the shell's history).",
)
def add(name: str, role: str, password_stdin: bool) -> None:
    """Make an account; asks for its password twice."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create(name, password, role=role)
    except ValidationFailed as failed:
        problems = "; ".join(f"{e['field']}: {e['message']}" for e in failed.extra["errors"])
        raise click.ClickException(problems) from None
    click.echo(f"Account '{user['username']}' made ({user['role']}).")


@users_cli.command("list")
def list_() -> None:
    """List every account with its role."""
    users = accounts.all_users()
    if not users:
        click.echo("No accounts yet. Make one with: python app.py users add NAME")
    for user in users:
        click.echo(f"  {user['username']:<32} {user['role']:<10} since {user['created_at']}")
