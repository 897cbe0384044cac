"""Start the backend sandbox: ``python app.py`` (``--help`` lists the options).

``flask --app app run`` works too: Flask finds ``create_app`` here.
"""

from sandbox import create_app  # noqa: F401  (found by `flask --app app`)
from sandbox.cli import main

if __name__ == "__main__":
    main()
