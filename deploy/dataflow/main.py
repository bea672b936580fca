"""Flex Template launcher: the template's parameters arrive as ``--name=value`` flags.

Dataflow runs ``python main.py --input=... --output=... --runner=DataflowRunner --project=...``;
this is ``pagestream run`` with those flags. The job commits itself (the commit is the job's last
step), so the output is complete exactly when ``OUTPUT/_runs/<run_id>.json`` exists.
"""

import sys

from pagestream.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
