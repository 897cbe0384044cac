"""The server module's challenges, each checked from the request records."""

from sandbox.registry import Challenge

CHALLENGES = (
    Challenge(
        id="server.teapot",
        title="Get a 418 I'm a teapot",
        hint="Ask /server/status/418.",
        check=lambda record, buffer: record.status == 418 and record.module == "server",
    ),
)
