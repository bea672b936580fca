"""Airflow DAG: one pagestream batch run per day (Airflow 2.4+ and 3.x).

Copy this file into the DAGs folder. pagestream is not on PyPI: install it on the workers from
a checkout or a wheel built from one, in its own venv so its pins do not meet Airflow's::

    python3 -m venv /opt/pagestream/venv
    /opt/pagestream/venv/bin/pip install /path/to/pagestream-checkout
    # or a wheel built once from the checkout (`pip wheel --no-deps -w dist .`):
    /opt/pagestream/venv/bin/pip install /path/to/pagestream-0.1.0-py3-none-any.whl

(or run the image from ``deploy/Dockerfile``), then set ``PAGESTREAM`` to that executable's
absolute path and the DAG params (or edit ``DEFAULT_PARAMS``). The executable is a constant,
not a param, so a trigger conf cannot choose what runs.

Each slot runs with ``--run_id daily-<slot>`` and ``--logical_date <slot>``: a retry or a manual
rerun of a slot replaces that run's output, and a late rerun of an older slot gives the rows of
its first run. The slot is the run's ``ds``; a manual run in Airflow 3 may have no logical date,
and then takes ``slot`` from its trigger conf (``{"slot": "2024-05-01"}``, also the way to
backfill a day) or else the day before it was triggered (UTC), as a scheduled run would.
``max_active_runs=1`` keeps the slots in order, since a run marks duplicates against the
committed runs before it (``--state``). Every parameter is shell-quoted (``shlex.quote``), so
paths with spaces or shell characters arrive as one argument.
"""

from __future__ import annotations

import re
import shlex
from datetime import timedelta, timezone

import jinja2
import pendulum

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.operators.bash import BashOperator

#: The pagestream executable of the venv it was installed into.
PAGESTREAM = "/opt/pagestream/venv/bin/pagestream"

#: Where a daily slot reads and writes; override per deployment (DAG params or this dict).
#: ``input`` and ``beam_args`` are lists: one element per argument.
DEFAULT_PARAMS = {
    "input": ["/data/incoming"],
    "output": "/data/pagestream",
    "state": "/data/pagestream-state",
    "beam_args": ["--direct_num_workers", "0", "--direct_running_mode", "multi_processing"],
}

#: The command of one slot (Jinja, rendered by Airflow). ``slot()`` is the macro below.
PAGESTREAM_COMMAND = (
    "{{ pagestream | shell_quote }} run"
    " --input {{ params.input | map('shell_quote') | join(' ') }}"
    " --output {{ params.output | shell_quote }}"
    " --state {{ params.state | shell_quote }}"
    " --run_id daily-{{ slot() | replace('-', '') }}"
    " --logical_date {{ slot() }}"
    " --quiet"
    " {{ params.beam_args | map('shell_quote') | join(' ') }}"
)


@jinja2.pass_context
def slot(context) -> str:
    """The run's slot, YYYY-MM-DD: conf ``slot``, else ``ds``, else the day before ``run_after``."""
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    value = conf.get("slot") or context.get("ds")
    if not value:  # Airflow 3 manual run without a logical date
        triggered = getattr(dag_run, "run_after", None) or context.get("data_interval_end")
        if triggered is None:
            raise ValueError("pagestream_daily: the run has no logical date, slot or run_after")
        value = (triggered.astimezone(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%d")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
        raise ValueError(f"pagestream_daily: slot {value!r} is not YYYY-MM-DD")
    return str(value)


with DAG(
    dag_id="pagestream_daily",
    description="Scraped pages -> deduplicated Parquet, one run per day",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=DEFAULT_PARAMS,
    user_defined_filters={"shell_quote": shlex.quote},
    user_defined_macros={"slot": slot, "pagestream": PAGESTREAM},
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["pagestream"],
) as dag:
    BashOperator(
        task_id="pagestream_run",
        bash_command=PAGESTREAM_COMMAND,
        execution_timeout=timedelta(hours=6),
    )
