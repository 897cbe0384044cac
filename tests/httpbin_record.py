"""Record httpbin's answers to tests/test_httpbin_compat.py's cases and flows.

The test compares the playground with httpbin through the answers this writes to
tests/fixtures/httpbin/answers.json, so the suite runs without httpbin installed:
README's set-up cannot install it (on Python before 3.12 its metadata pins greenlet<3,
which Playwright's greenlet>=3 contradicts). The recording is of httpbin 0.10.4
(HTTPBIN_VERSION in the test; the file says so too), run in a thread and served over real
HTTP on 127.0.0.1, as the test serves the sandbox; each answer is normalised by the test's
own code (base URL, port, ids, nonces, dates...) before it is written.

Record again when the test says a case or flow has no recording (one was added or
changed) or that a recording is stale (one was removed), or after changing how answers
are normalised. From the repository's root:

    python -m pip install --no-deps httpbin==0.10.4
    python tests/httpbin_record.py           # rewrites the recording
    python tests/httpbin_record.py --check   # says whether httpbin still answers as recorded

Read the diff before committing it: it shows what httpbin answers to the new requests.
Install httpbin as above, without its extras: flasgger would add pages and routes of its
own. httpbin's own 500s (bad input; ?require-cookie=1, "httpbin-crash") are recorded as
answers, not printed.
To record another httpbin version, change HTTPBIN_VERSION in the test first.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from helpers import serve
from test_httpbin_compat import HTTPBIN_VERSION, RECORDING, Side, record


def recording() -> dict:
    """Serve httpbin over real HTTP and return its normalised answers, with what made them."""
    import httpbin  # only here: the test itself never needs it

    httpbin.app.logger.setLevel(logging.CRITICAL)  # its 500s are answers to record here
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line for every request
    with serve(httpbin.app) as server:
        answers = record(Side(server.url), httpbin.app)
    made_with = {name: version(name) for name in ("flask", "werkzeug", "requests")}
    made_with["python"] = platform.python_version()
    return {"httpbin": version("httpbin"), "recorded with": made_with, **answers}


def differences(old: dict, new: dict) -> list[str]:
    """Name the recordings that differ between two recordings."""
    found = []
    for part in ("cases", "flows"):
        keys = sorted({*old.get(part, {}), *new[part]})
        found += [f"{part}: {k}" for k in keys if old.get(part, {}).get(k) != new[part].get(k)]
    return found + [k for k in ("routes", "global headers") if old.get(k) != new[k]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare; write nothing")
    args = parser.parse_args()
    try:
        installed = version("httpbin")
    except PackageNotFoundError:
        sys.exit(
            f"httpbin is not installed: python -m pip install --no-deps httpbin=={HTTPBIN_VERSION}"
        )
    if installed != HTTPBIN_VERSION:
        sys.exit(f"httpbin {installed} is installed; the test compares with {HTTPBIN_VERSION}")
    new = recording()
    old = json.loads(RECORDING.read_text(encoding="utf-8")) if RECORDING.exists() else {}
    changed = differences(old, new)
    for name in changed:
        print("differs:" if args.check else "recorded:", name)
    if args.check:
        print(f"{len(changed)} recordings differ from what httpbin answers now")
        return 1 if changed else 0
    RECORDING.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(new, indent=2, sort_keys=True, ensure_ascii=False)
    RECORDING.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {RECORDING} ({len(new['cases'])} cases, {len(new['flows'])} flows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
