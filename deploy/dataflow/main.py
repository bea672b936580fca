"""Flex Template launcher: the template's parameters arrive as ``--name=value`` flags.

Dataflow runs ``python main.py --input=... --output=... --runner=DataflowRunner --project=...``;
this is ``pagestream run`` with those flags. A template parameter holds one string, so the
``input`` parameter may list several paths separated by whitespace (spaces or newlines), e.g.
``gs://crawl/2024-05-01/*.warc.gz gs://feeds/2024-05-01.jsonl``; each becomes one ``--input``.
The job commits itself (the commit is the job's last step), so the output is complete exactly
when ``OUTPUT/_runs/<run_id>.json`` exists.
"""

import sys

from pagestream.cli import main


def run_argv(flags: list[str]) -> list[str]:
    """The launcher's flags -> ``pagestream run`` arguments (``--input`` split into paths)."""
    argv, pending_input = ["run"], False
    for flag in flags:
        if pending_input:
            argv += ["--input", *flag.split()]
            pending_input = False
        elif flag.startswith("--input="):
            argv += ["--input", *flag[len("--input=") :].split()]
        else:
            pending_input = flag == "--input"
            if not pending_input:
                argv.append(flag)
    return argv


if __name__ == "__main__":
    sys.exit(main(run_argv(sys.argv[1:])))
