"""Async GRPO through the tunegym data plane, in one command.

    python examples/async-rl/train.py                 # async, 2 collectors, ~1 minute
    python examples/async-rl/train.py --mode sync     # the same run, synchronous
    python examples/async-rl/train.py --resume runs/async-rl_<timestamp>

Writes runs/async-rl_<timestamp>/ (report.html, summary.json, updates.jsonl, checkpoints/).
Ctrl-C stops collectors and trainer and keeps what was recorded. See docs/rl.md.
"""

import sys

from tunegym.rl.run import main

if __name__ == "__main__":
    sys.exit(main())
