"""What the command line says about a class: its code, its URLs, the first password.

``python app.py --class-mode`` prints it when it starts, and ``python app.py class
info`` prints it again, from what the data dir remembers.
"""

from __future__ import annotations

import json
import socket

from flask import Flask

from . import class_instructors, class_room
from .guard import is_loopback


def first_password(app: Flask) -> str | None:
    """Return the first instructor's password once, if this start made the account."""
    return app.extensions.pop("sandbox.class_first_password", None)


def network_address() -> str | None:
    """Return this computer's address on its network, as the room would type it, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            # Connecting a UDP socket sends nothing: the OS only picks the interface (and so the
            # address) it would route through. 192.0.2.1 is a documentation address (TEST-NET-1).
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def room_urls(host: str, port: int, scheme: str) -> list[str]:
    """Return the URLs the room may use to reach a server listening on host:port."""
    hosts = ["127.0.0.1"] if is_loopback(host) or host in ("0.0.0.0", "::") else []
    if host in ("0.0.0.0", "::"):
        hosts += [a for a in [network_address()] if a]
    elif not is_loopback(host):
        hosts.append(host)
    return [f"{scheme}://{f'[{h}]' if ':' in h else h}:{port}/" for h in hosts]


def remember_urls(app: Flask, urls: list[str]) -> None:
    """Keep the URLs the server listens on, for `python app.py class info`."""
    conn = class_instructors.connect(app)
    try:
        with conn:
            conn.execute(
                "insert or replace into class_meta (key, value) values ('urls', ?)",
                (json.dumps(urls),),
            )
    finally:
        conn.close()


def remembered_urls(app: Flask) -> list[str]:
    """Return the URLs the class server last listened on (or the default one)."""
    conn = class_instructors.connect(app)
    try:
        row = conn.execute("select value from class_meta where key = 'urls'").fetchone()
    finally:
        conn.close()
    return json.loads(row[0]) if row else ["http://127.0.0.1:5000/"]


def describe(app: Flask, urls: list[str]) -> str:
    """Return what an instructor needs to start a class: code, URLs, the first password."""
    chosen = class_room.preset(app)
    code = class_room.code_state(app)
    if chosen.path:
        lines = [f"Class: {chosen.name} (preset {chosen.path})"]
    else:
        lines = ["Class: no preset (--class-config class.toml sets the room up)"]
    state = ""
    if code["expired"]:
        state = " (EXPIRED: make a new one on the dashboard)"
    elif code["expires_at"]:
        state = f" (until {code['expires_at'][:16].replace('T', ' ')} UTC)"
    lines.append(f"Join code: {code['code']}{state}")
    lines.append("Students open, and join with the code: " + "  or  ".join(urls))
    lines.append("Instructor dashboard: " + "  or  ".join(f"{u}class/" for u in urls))
    password = first_password(app)
    if password:
        lines.append(
            f"First instructor made: name '{class_instructors.FIRST_NAME}', password "
            f"{password}\n  Shown this once: note it now. `python app.py class instructor "
            "NAME` adds instructors or sets a new password."
        )
    return "\n".join(lines)
