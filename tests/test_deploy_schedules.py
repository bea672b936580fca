"""The scheduled recipes of deploy/ (Airflow, cron, systemd) run the slot they claim, with every
argument intact, through the real ``pagestream run`` parser.

Commands run through bash as the scheduler would run them, with a stub ``pagestream`` in place
of the venv's executable. Where the real tool is installed, it checks the file too: Airflow
loads the DAG, ``systemd-analyze verify`` the units; otherwise those tests skip with a reason.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_stubs import DEPLOY, StubRunner, parse_run  # noqa: E402

DS, DS_NODASH = "2024-05-01", "20240501"
VENV_PAGESTREAM = "/opt/pagestream/venv/bin/pagestream"
DAG_FILE = DEPLOY / "airflow" / "pagestream_dag.py"


@pytest.fixture
def stubs(tmp_path) -> StubRunner:
    return StubRunner(tmp_path)


def _yesterday() -> str:
    return (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()


def _slot_run(options, slot: str) -> None:
    assert (options.logical_date, options.run_id) == (slot, "daily-" + slot.replace("-", ""))


# --- Airflow ------------------------------------------------------------------------------------


def _dag_source():
    """The DAG file's constants and its ``slot`` macro, without importing Airflow."""
    tree = ast.parse(DAG_FILE.read_text())
    constants, namespace = {}, {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
        if isinstance(node, ast.FunctionDef) and node.name == "slot":
            module = ast.Module(body=[node], type_ignores=[])
            import jinja2

            namespace.update(jinja2=jinja2, re=re, timedelta=timedelta, timezone=timezone)
            exec(compile(module, str(DAG_FILE), "exec"), namespace)
    return tree, constants, namespace["slot"]


def _render(params: dict, pagestream: str, **context) -> str:
    """The DAG's command rendered as Airflow does (StrictUndefined, the DAG's filter and
    macros), with ``pagestream`` in place of the ``PAGESTREAM`` macro."""
    import jinja2

    _, constants, slot = _dag_source()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["shell_quote"] = shlex.quote
    template = env.from_string(constants["PAGESTREAM_COMMAND"])
    return template.render(params=params, slot=slot, pagestream=pagestream, **context)


def test_airflow_dag_quotes_every_parameter_with_shlex():
    tree, constants, _ = _dag_source()
    command = constants["PAGESTREAM_COMMAND"]
    for expression in re.findall(r"\{\{(.*?)\}\}", command):
        if "params." in expression:
            assert "shell_quote" in expression, f"unquoted parameter: {{{{{expression}}}}}"
    filters = [
        keyword.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "user_defined_filters"
    ]
    assert len(filters) == 1 and ast.unparse(filters[0]) == "{'shell_quote': shlex.quote}"
    assert "{{ pagestream | shell_quote }}" in command
    assert (
        constants["PAGESTREAM"].startswith("/") and "pagestream" not in constants["DEFAULT_PARAMS"]
    )
    assert "pip install pagestream" not in DAG_FILE.read_text()


def test_airflow_command_keeps_awkward_paths_whole(stubs):
    params = {
        "input": ["/data/in coming", "/data/it's;$(touch pwned)*.warc.gz"],
        "output": "/data/out put",
        "state": "/data/state $HOME",
        "beam_args": ["--direct_num_workers", "0"],
    }
    dag_run = SimpleNamespace(conf={}, run_after=None)
    (call,) = stubs.run(["bash", "-c", _render(params, stubs.pagestream, ds=DS, dag_run=dag_run)])
    assert not (stubs.root / "pwned").exists()
    assert call[call.index("--input") + 1 : call.index("--output")] == params["input"]
    options = parse_run(call[1:])
    assert options.inputs == tuple(params["input"])
    assert (options.output, options.state) == (params["output"], params["state"])
    _slot_run(options, DS)
    assert call[-2:] == ["--direct_num_workers", "0"]


@pytest.mark.parametrize(
    "context, expected",
    [
        ({"ds": DS, "conf": {}}, DS),  # a scheduled run (or any run with a logical date)
        ({"ds": DS, "conf": {"slot": "2023-12-31"}}, "2023-12-31"),  # a backfill by conf
        ({"conf": None, "run_after": datetime(2024, 5, 2, 0, 30, tzinfo=timezone.utc)}, DS),
        # Airflow 3 manual run, no logical date: the day before it was triggered, in UTC
        ({"conf": {}, "run_after": datetime(2024, 5, 2, 1, 0, tzinfo=timezone(timedelta(hours=3)))},
         "2024-04-30"),
    ],
)  # fmt: skip
def test_airflow_slot_without_a_logical_date(stubs, context, expected):
    _, constants, _ = _dag_source()
    dag_run = SimpleNamespace(conf=context.pop("conf"), run_after=context.pop("run_after", None))
    command = _render(constants["DEFAULT_PARAMS"], stubs.pagestream, dag_run=dag_run, **context)
    (call,) = stubs.run(["bash", "-c", command])
    _slot_run(parse_run(call[1:]), expected)


def test_airflow_slot_rejects_a_malformed_conf_slot():
    import jinja2

    _, constants, _ = _dag_source()
    dag_run = SimpleNamespace(conf={"slot": "2024-05-01; rm -rf /"}, run_after=None)
    with pytest.raises(ValueError, match="not YYYY-MM-DD"):
        _render(constants["DEFAULT_PARAMS"], constants["PAGESTREAM"], ds=DS, dag_run=dag_run)
    with pytest.raises(jinja2.UndefinedError):  # a parameter the command needs is missing
        _render({"input": ["/in"]}, constants["PAGESTREAM"], ds=DS, dag_run=dag_run)


def test_airflow_loads_the_dag():
    if importlib.util.find_spec("airflow") is None:
        pytest.skip("Airflow is not installed (the DAG's command is checked without it above)")
    try:  # Airflow 3.1+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    dag = bag.dags["pagestream_daily"]
    _, constants, _ = _dag_source()
    assert dag.get_task("pagestream_run").bash_command == constants["PAGESTREAM_COMMAND"]
    assert dag.max_active_runs == 1


# --- cron -----------------------------------------------------------------------------------------

CRON_FIELDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _cron_field_ok(field: str, low: int, high: int) -> bool:
    """One crontab time field: ``*``, numbers, ranges, lists and ``/step`` within bounds."""
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not step.isdigit():
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and low <= int(b) <= high for b in bounds):
            return False
    return True


def _cron_file():
    env, jobs = {}, []
    for line in (DEPLOY / "cron" / "pagestream.cron").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Za-z_]+=", line):
            key, _, value = line.partition("=")
            env[key] = value
        else:
            jobs.append(line)
    return env, jobs


def test_cron_file_syntax():
    env, jobs = _cron_file()
    assert "CRON_TZ" not in env, "Debian's cron has no CRON_TZ (document the time zone instead)"
    (job,) = jobs
    fields = job.split(None, 6)
    assert len(fields) == 7
    for field, (low, high) in zip(fields[:5], CRON_FIELDS, strict=True):
        assert _cron_field_ok(field, low, high), f"bad cron time field {field!r}"
    assert fields[5] == "pagestream"  # the user column of /etc/cron.d files
    assert not re.search(r"(?<!\\)%", fields[6]), "an unescaped % ends a cron command"
    assert VENV_PAGESTREAM in fields[6], "the venv's pagestream by its absolute path"
    assert "/var/log/" not in fields[6], "a log directory nobody creates"


def test_cron_line_runs_yesterdays_slot(stubs):
    env, (job,) = _cron_file()
    command = job.split(None, 6)[6].replace("\\%", "%").replace(VENV_PAGESTREAM, stubs.pagestream)
    shell = env.pop("SHELL")
    env.pop("PATH")
    calls = stubs.run([shell, "-c", command], env)
    (call,) = [c for c in calls if c[0] == "pagestream"]
    assert [c for c in calls if c[0] == "logger"] == [["logger", "-t", "pagestream"]]
    options = parse_run(call[1:])
    _slot_run(options, _yesterday())
    assert options.state == env["STATE"] and options.inputs == (env["INPUT"],)


def test_cron_line_reports_a_failed_run(stubs):
    env, (job,) = _cron_file()
    failing = stubs.root / "failing"
    failing.write_text("#!/bin/sh\necho 'error: no input' >&2\nexit 2\n")
    failing.chmod(0o755)
    command = job.split(None, 6)[6].replace("\\%", "%").replace(VENV_PAGESTREAM, str(failing))
    env.pop("PATH")
    done = stubs.run([env.pop("SHELL"), "-c", command], env, check=False)
    assert done.returncode == 2 and "error: no input" in done.stdout  # via logger


# --- systemd --------------------------------------------------------------------------------------


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(path)
    return parser


def _systemd_unescape(value: str) -> str:
    assert not re.search(r"%[^%]", value.replace("%%", "")), "a systemd specifier in ExecStart"
    return value.replace("%%", "%").replace("$$", "$")


@pytest.mark.parametrize("slot", [None, "2024-05-01"])
def test_systemd_service_runs_the_slot(stubs, slot):
    service = _unit(DEPLOY / "systemd" / "pagestream.service")
    assert service["Service"]["Type"] == "oneshot"
    exec_start = _systemd_unescape(service["Service"]["ExecStart"])
    assert VENV_PAGESTREAM in exec_start, "the venv's pagestream by its absolute path"
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "pagestream.env").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    if slot:
        env["SLOT"] = slot
    argv = shlex.split(exec_start.replace(VENV_PAGESTREAM, stubs.pagestream))
    (call,) = stubs.run(argv, env)
    options = parse_run(call[1:])
    _slot_run(options, slot or _yesterday())
    assert options.state == env["STATE"]
    timer = _unit(DEPLOY / "systemd" / "pagestream.timer")
    assert timer["Timer"]["Unit"] == "pagestream.service"
    assert timer["Timer"]["OnCalendar"].endswith(" UTC")


def test_systemd_analyze_verifies_the_units(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    units = [shutil.copy(DEPLOY / "systemd" / n, tmp_path) for n in ("pagestream.service", "pagestream.timer")]  # fmt: skip
    done = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pagestream" not in done.stderr, done.stderr  # no warning about our units
    calendar = _unit(DEPLOY / "systemd" / "pagestream.timer")["Timer"]["OnCalendar"]
    done = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
