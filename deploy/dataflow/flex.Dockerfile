# syntax=docker/dockerfile:1
# One image for the Flex Template launcher and the Dataflow workers (Google's "custom container
# for dependencies" layout): the launcher binary from the template base image, Beam's SDK boot
# binary from the Beam image, pagestream installed once. Build from the repository root (the
# root .dockerignore keeps the context to the copied files):
#   docker build -f deploy/dataflow/flex.Dockerfile \
#     --build-arg LAUNCHER_IMAGE=gcr.io/dataflow-templates-base/python311-template-launcher-base@sha256:... \
#     -t IMAGE .                                          (deploy/dataflow/build.sh does it)
#
# LAUNCHER_IMAGE has no default on purpose: Google publishes the launcher base only as a moving
# `latest` and dated release tags, so pick one (`gcloud container images list-tags
# gcr.io/dataflow-templates-base/python311-template-launcher-base`) and pin it by digest;
# build.sh refuses an unpinned one. The other bases are pinned to exact releases here.

ARG BEAM_VERSION=2.77.0
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm
ARG BEAM_SDK_IMAGE=apache/beam_python3.11_sdk:${BEAM_VERSION}
ARG LAUNCHER_IMAGE

FROM ${LAUNCHER_IMAGE} AS launcher
FROM ${BEAM_SDK_IMAGE} AS beam_sdk

FROM ${PYTHON_IMAGE}
ARG BEAM_VERSION
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /template
COPY setup.py pyproject.toml README.md ./
COPY src/ src/
COPY pipelines/ pipelines/
COPY transforms/ transforms/
COPY schemas/ schemas/
COPY deploy/dataflow/main.py /template/main.py
# The package is this checkout (not on PyPI); Beam is pinned exactly.
# hadolint ignore=DL3013
RUN pip install . "apache-beam[gcp]==${BEAM_VERSION}" && pagestream --version
COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
# The launcher runs main.py; workers use this same image as --sdk_container_image (run.sh
# passes it), so no setup.py/requirements are staged at job start.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py
ENTRYPOINT ["/opt/apache/beam/boot"]
