"""Airflow DAG: one pagestream batch run per day (Airflow 2.4+ and 3.x).

Copy this file into the DAGs folder of an Airflow whose workers have ``pagestream`` on their
PATH (``pip install pagestream`` or the image from ``deploy/Dockerfile``) and set the DAG params
(or edit ``DEFAULT_PARAMS``). Each slot runs with ``--run_id daily-<ds_nodash>`` and
``--logical_date <ds>``: a retry or a manual rerun of a slot replaces that run's output, and a
late rerun of an older slot gives the rows of its first run. ``max_active_runs=1`` keeps the
slots in order, since a run marks duplicates against the committed runs before it (``--state``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.operators.bash import BashOperator

#: Where a daily slot reads and writes; override per deployment (DAG params or this dict).
DEFAULT_PARAMS = {
    "input": "/data/incoming",
    "output": "/data/pagestream",
    "state": "/data/pagestream-state",
    "beam_args": "--direct_num_workers 0 --direct_running_mode multi_processing",
}

#: The command of one slot (Jinja, rendered by Airflow; ``ds`` is the slot's date).
PAGESTREAM_COMMAND = (
    "pagestream run"
    " --input {{ params.input }}"
    " --output {{ params.output }}"
    " --state {{ params.state }}"
    " --run_id daily-{{ ds_nodash }}"
    " --logical_date {{ ds }}"
    " --quiet"
    " {{ params.beam_args }}"
)

with DAG(
    dag_id="pagestream_daily",
    description="Scraped pages -> deduplicated Parquet, one run per day",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=DEFAULT_PARAMS,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["pagestream"],
) as dag:
    BashOperator(
        task_id="pagestream_run",
        bash_command=PAGESTREAM_COMMAND,
        execution_timeout=timedelta(hours=6),
    )
