"""The attacks: tests that try to break the sandbox the way an attacker would.

Run them on their own with ``python -m pytest tests/security``. Each file is one kind of
attacker, and SECURITY.md (at the top of the repository) says what the sandbox promises:

- test_guard.py: another website open in the learner's browser, a rebinding host name,
  a stranger on the network (cross-site requests, Host checks, the operator token);
- test_stall.py: requests that try to hold every server thread;
- test_playground_attacks.py: markup and cookies planted through the HTTP playground;
- test_races.py: concurrent writes racing a switch, login storms, toggles under load;
- test_bad_input.py and test_secrets.py: input that tries to crash the server or make it
  keep a secret.

They use real HTTP against a running server (``python app.py`` where the server matters),
real Chromium where a browser is involved, threads for races and killed processes for
crashes. The fixtures come from tests/conftest.py and tests/helpers.py.
"""
