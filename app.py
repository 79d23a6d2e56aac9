"""Start the web UI: `python app.py` (or `make run`). Settings come from ASSISTANT_* env vars / assistant.toml."""

import sys

from assistant.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
