"""The deploy/ recipes: the Dockerfiles build what they claim, every command in the recipes parses
with the real ``pagestream run`` parser and Beam's options, and scheduled reruns are idempotent.

No Docker engine, Airflow, cron, systemd, gcloud, Flink or Spark here: Dockerfiles are parsed and
their install step is repeated with pip; commands are run through bash with a stub ``pagestream``
(and stub ``gcloud``/``docker``/``git``) on PATH that records its arguments, exactly as the
scheduler's shell would pass them.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DS, DS_NODASH = "2024-05-01", "20240501"


# --- helpers -----------------------------------------------------------------------------------


def _compare_outputs():
    spec = importlib.util.spec_from_file_location("compare_outputs", DEPLOY / "compare_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse_run(argv: list[str]):
    """``pagestream <argv>`` through the real CLI parser and option validation -> RunOptions."""
    from pagestream.cli import _parser, sample_dir
    from pagestream.pipelines.options import parse_run_args

    args, rest = _parser().parse_known_args(argv)
    assert args.command == "run", argv
    return parse_run_args(args, rest, sample_dir())


@pytest.fixture
def stubs(tmp_path):
    """A PATH directory whose pagestream/gcloud/docker/git record their argv in ``calls.jsonl``."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    stub = bin_dir / "_stub"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "with open(os.environ['STUB_LOG'], 'a') as f:\n"
        "    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + '\\n')\n"
        "if os.path.basename(sys.argv[0]) == 'git':\n"
        "    print('abc1234')\n"
    )
    stub.chmod(0o755)
    for name in ("pagestream", "gcloud", "docker", "git"):
        (bin_dir / name).symlink_to(stub)

    def run(argv: list[str], env: dict | None = None, cwd: Path | None = None) -> list[list[str]]:
        log.write_text("")
        environment = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "STUB_LOG": str(log),
            "HOME": str(tmp_path),
            **(env or {}),
        }
        done = subprocess.run(
            argv, env=environment, cwd=cwd or tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in log.read_text().splitlines()]

    return run


def _yesterday() -> str:
    return (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()


# --- Dockerfiles -------------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """Dockerfile -> [(INSTRUCTION, arguments)], continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _stages(instructions):
    """[(stage name, from image, [instructions])] and the ARG defaults declared before FROM."""
    args, stages = {}, []
    for name, value in instructions:
        if name == "ARG" and not stages:
            key, _, default = value.partition("=")
            args[key] = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), default)
        elif name == "FROM":
            parts = value.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            stages.append((parts[2] if len(parts) > 2 else None, image, []))
        else:
            stages[-1][2].append((name, value))
    return stages, args


def _copy_sources(instructions) -> list[str]:
    sources = []
    for name, value in instructions:
        if name == "COPY" and "--from=" not in value:
            sources += value.split()[:-1]
    return sources


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "dataflow/flex.Dockerfile"])
def test_dockerfile_copies_existing_files_and_pins_this_beam(dockerfile):
    import apache_beam

    instructions = _instructions(DEPLOY / dockerfile)
    stages, args = _stages(instructions)
    final_image = stages[-1][1]
    assert (
        any(image == "python:3.11-slim" for _, image, _ in stages)
        or final_image == "python:3.11-slim"
    )
    # The SDK harness boot binary must come from the Beam release the package is pinned to.
    assert args["BEAM_VERSION"] == apache_beam.__version__
    assert any(
        image == f"apache/beam_python3.11_sdk:{apache_beam.__version__}" for _, image, _ in stages
    )
    for source in _copy_sources(instructions):
        assert (REPO / source).exists(), f"{dockerfile}: COPY {source} does not exist in the repo"
    runs = " ".join(value for name, value in instructions if name == "RUN")
    assert re.search(r"pip install \S*\.(\[[a-z,]+\])?\S*\s", runs), (
        "installs the package from the repo"
    )


def test_dockerfile_targets_pagestream_and_beam_boot():
    stages, _ = _stages(_instructions(DEPLOY / "Dockerfile"))
    entrypoints = {
        name: json.loads(value)
        for name, _, body in stages
        for key, value in body
        if key == "ENTRYPOINT"
    }
    assert stages[-1][0] == "worker" and entrypoints["worker"] == ["pagestream"]  # default target
    assert entrypoints["sdk"] == ["/opt/apache/beam/boot"]
    flex_stages, _ = _stages(_instructions(DEPLOY / "dataflow" / "flex.Dockerfile"))
    flex_env = " ".join(value for key, value in flex_stages[-1][2] if key == "ENV")
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py" in flex_env


def test_docker_build_context_builds_a_complete_wheel(tmp_path):
    """Repeats the Dockerfile's install from exactly the files it COPYs (the wheel pip builds)."""
    try:
        import setuptools
        import wheel  # noqa: F401
    except ImportError:
        pytest.skip("building offline needs the 'wheel' package (no build isolation here)")
    if int(setuptools.__version__.split(".")[0]) < 68:
        pytest.skip(f"pyproject.toml needs setuptools>=68 to build, found {setuptools.__version__}")
    context = tmp_path / "context"
    context.mkdir()
    for source in _copy_sources(_instructions(DEPLOY / "Dockerfile")):
        src, dst = REPO / source, context / source
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dst)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(tmp_path / "wheels"), str(context)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = (tmp_path / "wheels").glob("pagestream-*.whl")
    names = set(zipfile.ZipFile(built).namelist())
    for required in (
        "pagestream/cli.py",
        "pagestream/sample/cc-main-2020-34-excerpt.warc.gz",
        "pagestream/sample/seeds/000_00a345504d5a06bd.txt",
        "pagestream/transforms/read/pages.py",
        "pagestream/transforms/extract/composite.py",
        "pagestream/pipelines/batch.py",
        "pagestream/schemas/records.py",
    ):
        assert required in names, f"the wheel lacks {required}"
    data_files = [p.name for p in (REPO / "transforms" / "topics" / "data").glob("*") if p.is_file()]
    for name in data_files:
        assert f"pagestream/transforms/topics/data/{name}" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "pagestream = pagestream.cli:entry" in zipfile.ZipFile(built).read(entry_points).decode()


# --- Dataflow Flex Template ----------------------------------------------------------------------


def _known_flags() -> set[str]:
    import argparse

    from pagestream.pipelines.beam_options import _beam_parser
    from pagestream.pipelines.options import add_run_arguments

    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    flags = set()
    for action in [*parser._actions, *_beam_parser()._actions]:
        flags.update(s[2:] for s in action.option_strings if s.startswith("--"))
    return flags


def test_flex_metadata_parameters_are_known_options():
    metadata = json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())
    names = [p["name"] for p in metadata["parameters"]]
    assert len(names) == len(set(names))
    unknown = sorted(set(names) - _known_flags())
    assert not unknown, f"metadata.json parameters that no option knows: {unknown}"
    assert {"input", "output", "state", "run_id", "logical_date"} <= set(names)
    required = {p["name"] for p in metadata["parameters"] if not p.get("isOptional")}
    assert required == {"input", "output"}


def _flex_flags(gcloud_argv: list[str]) -> list[str]:
    """``--parameters k=v,k=v`` of ``gcloud dataflow flex-template run`` -> ``--k=v`` flags."""
    flags = []
    for i, arg in enumerate(gcloud_argv):
        if arg == "--parameters":
            flags += [f"--{pair}" for pair in gcloud_argv[i + 1].split(",")]
    return flags


def test_flex_run_script_launches_a_parseable_run(stubs):
    env = {
        "PROJECT": "p", "REGION": "europe-west1", "BUCKET": "b", "TEMPLATE": "gs://b/t.json",
        "IMAGE": "europe-west1-docker.pkg.dev/p/pagestream/pagestream-flex:abc1234",
        "INPUT": "gs://crawl/2024-05-01/*.warc.gz",
    }  # fmt: skip
    calls = stubs(["bash", str(DEPLOY / "dataflow" / "run.sh"), DS], env)
    (gcloud,) = [c for c in calls if c[0] == "gcloud"]
    assert gcloud[1:4] == ["dataflow", "flex-template", "run"]
    flags = _flex_flags(gcloud)
    metadata_names = {
        p["name"]
        for p in json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())["parameters"]
    }
    beam_only = [f for f in flags if f.split("=", 1)[0][2:] not in metadata_names]
    assert beam_only == [f"--sdk_container_image={env['IMAGE']}"]
    options = _parse_run(["run", *flags])
    assert options.run_id == f"daily-{DS_NODASH}" and options.logical_date == DS
    assert options.state == "gs://b/pagestream/state" and options.output == "gs://b/pagestream/out"
    assert options.inputs == (env["INPUT"],)


def test_flex_build_script_uses_the_files_of_this_repo(stubs):
    calls = stubs(
        ["bash", str(DEPLOY / "dataflow" / "build.sh")],
        {"PROJECT": "p", "REGION": "r", "BUCKET": "b"},
    )
    (build,) = [c for c in calls if c[:2] == ["docker", "build"]]
    assert (REPO / build[build.index("-f") + 1]).is_file()
    (template,) = [c for c in calls if c[:3] == ["gcloud", "dataflow", "flex-template"]]
    assert (REPO / template[template.index("--metadata-file") + 1]).is_file()
    assert template[template.index("--image") + 1] == build[build.index("-t") + 1]


def test_flex_launcher_hands_its_flags_to_pagestream_run(monkeypatch):
    seen = {}
    import pagestream.cli

    monkeypatch.setattr(pagestream.cli, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    monkeypatch.setattr(sys, "argv", ["main.py", "--input=gs://a/*.warc.gz", "--output=gs://b/out"])
    source = (
        (DEPLOY / "dataflow" / "main.py")
        .read_text()
        .replace("pagestream.cli import main", "pagestream.cli import main as _m; main = _m")
    )
    with pytest.raises(SystemExit):
        exec(compile(source, "main.py", "exec"), {"__name__": "__main__"})
    assert seen["argv"] == ["run", "--input=gs://a/*.warc.gz", "--output=gs://b/out"]


# --- Flink and Spark recipes --------------------------------------------------------------------


def _readme_commands(path: Path) -> list[str]:
    """The ``pagestream run`` commands in the fenced bash blocks of a README."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [
            line.strip()
            for line in joined.splitlines()
            if line.strip().startswith("pagestream run")
        ]
    return commands


PORTABLE_ENV = {
    "INPUT": "/data/in", "OUTPUT": "/data/out", "STATE": "/data/state", "DS": DS,
    "SDK_IMAGE": "registry.example.com/pagestream-sdk:0.1.0", "FLINK_MASTER": "flink:8081",
    "SPARK_MASTER": "spark://spark:7077", "SPARK_REST": "http://spark:6066",
}  # fmt: skip


@pytest.mark.parametrize(
    "recipe, runners",
    [("flink", {"PortableRunner", "FlinkRunner"}), ("spark", {"PortableRunner", "SparkRunner"}),
     ("dask", {"apache_beam.runners.dask.dask_runner.DaskRunner"})],
)  # fmt: skip
def test_portable_runner_commands_parse(stubs, recipe, runners):
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    commands = _readme_commands(DEPLOY / recipe / "README.md")
    assert commands
    seen_runners = set()
    for command in commands:
        (call,) = stubs(["bash", "-c", command], PORTABLE_ENV)
        options = _parse_run(call[1:])
        assert (options.run_id, options.logical_date, options.state) == (
            f"daily-{DS_NODASH}",
            DS,
            "/data/state",
        )
        from pagestream.cli import _parser

        _, beam_args = _parser().parse_known_args(call[1:])
        seen_runners.add(PipelineOptions(beam_args).view_as(StandardOptions).runner)
    assert seen_runners == runners


# --- Airflow, cron, systemd -----------------------------------------------------------------------


def _module_constants(path: Path) -> dict:
    constants = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return constants


def test_airflow_command_renders_a_slot_run(stubs):
    import jinja2

    path = DEPLOY / "airflow" / "pagestream_dag.py"
    constants = _module_constants(path)
    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
        constants["PAGESTREAM_COMMAND"]
    )
    command = template.render(ds=DS, ds_nodash=DS_NODASH, params=constants["DEFAULT_PARAMS"])
    (call,) = stubs(["bash", "-c", command])
    options = _parse_run(call[1:])
    assert options.run_id == f"daily-{DS_NODASH}" and options.logical_date == DS
    assert options.state == constants["DEFAULT_PARAMS"]["state"]
    if importlib.util.find_spec("airflow") is not None:  # the real DAG, where Airflow is installed
        spec = importlib.util.spec_from_file_location("pagestream_dag", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        task = module.dag.get_task("pagestream_run")
        assert task.bash_command == constants["PAGESTREAM_COMMAND"]
        assert module.dag.max_active_runs == 1


def test_cron_line_runs_yesterdays_slot(stubs, tmp_path):
    env, jobs = {}, []
    for line in (DEPLOY / "cron" / "pagestream.cron").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            key, _, value = line.partition("=")
            env[key] = value
        else:
            jobs.append(line)
    (job,) = jobs
    fields = job.split(None, 6)
    assert len(fields) == 7 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5])
    assert fields[5] == "pagestream"  # the user column of /etc/cron.d files
    command = fields[6]
    assert not re.search(r"(?<!\\)%", command), "an unescaped % ends a cron command"
    env.pop("PATH")
    env["LOG"] = str(tmp_path / "daily.log")
    (call,) = stubs([env.pop("SHELL"), "-c", command.replace("\\%", "%")], env)
    options = _parse_run(call[1:])
    yesterday = _yesterday()
    assert options.logical_date == yesterday and options.run_id == "daily-" + yesterday.replace(
        "-", ""
    )
    assert options.state == env["STATE"] and options.inputs == (env["INPUT"],)


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
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "pagestream.env").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    if slot:
        env["SLOT"] = slot
    (call,) = stubs(shlex.split(_systemd_unescape(service["Service"]["ExecStart"])), env)
    options = _parse_run(call[1:])
    expected = slot or _yesterday()
    assert options.logical_date == expected and options.run_id == "daily-" + expected.replace(
        "-", ""
    )
    assert options.state == env["STATE"]
    timer = _unit(DEPLOY / "systemd" / "pagestream.timer")
    assert timer["Timer"]["Unit"] == "pagestream.service" and timer["Timer"]["OnCalendar"]


# --- compare_outputs ------------------------------------------------------------------------------


def _write_run(output: Path, run_id: str, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    relative = f"pages/crawl_date={DS}/language=en/part-{run_id}-0.parquet"
    (output / relative).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), output / relative)
    (output / "_runs").mkdir(exist_ok=True)
    manifest = {"run_id": run_id, "files": {"pages": [relative]}, "counts": {"pages": len(rows)}}
    (output / "_runs" / f"{run_id}.json").write_text(json.dumps(manifest))


def test_compare_outputs_ignores_run_ids_and_finds_a_changed_cell(tmp_path):
    compare = _compare_outputs()
    row = {"doc_id": "d1", "source": "s#1", "url": "u", "text": "a b", "dup_run": None}
    dup = {"doc_id": "d2", "source": "s#2", "url": "v", "text": "a b", "dup_run": None}
    _write_run(
        tmp_path / "a", "ra", [{**row, "run_id": "ra"}, {**dup, "run_id": "ra", "dup_run": "ra"}]
    )
    _write_run(
        tmp_path / "b", "rb", [{**dup, "run_id": "rb", "dup_run": "rb"}, {**row, "run_id": "rb"}]
    )
    _write_run(
        tmp_path / "c",
        "rc",
        [{**row, "run_id": "rc", "text": "a c"}, {**dup, "run_id": "rc", "dup_run": "rc"}],
    )
    assert compare.compare_runs(str(tmp_path / "a"), "ra", str(tmp_path / "b"), "rb") == []
    assert compare.compare_runs(str(tmp_path / "a"), "ra", str(tmp_path / "c"), "rc") == [
        "pages: doc_id=d1 source=s#1 differs in text"
    ]
    assert compare.main([str(tmp_path / "a"), "ra", str(tmp_path / "c"), "rc"]) == 1
