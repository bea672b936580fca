#!/usr/bin/env bash
# Builds and pushes the Flex Template image, then writes the template spec to GCS.
#   PROJECT=my-project REGION=europe-west1 BUCKET=my-bucket \
#   LAUNCHER_IMAGE=gcr.io/dataflow-templates-base/python311-template-launcher-base@sha256:... \
#   deploy/dataflow/build.sh
# Needs: docker (BuildKit), gcloud (authenticated), an Artifact Registry repository named
# $REPOSITORY. LAUNCHER_IMAGE must be pinned: by digest (@sha256:...) or by a release tag,
# never `latest` (list them with `gcloud container images list-tags IMAGE --limit 5`).
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}"
: "${LAUNCHER_IMAGE:?set LAUNCHER_IMAGE to a pinned Flex Template launcher base image}"
if [[ "${LAUNCHER_IMAGE}" != *@sha256:* ]] \
  && [[ ! "${LAUNCHER_IMAGE##*/}" =~ :.+ || "${LAUNCHER_IMAGE##*:}" == latest ]]; then
  echo "build.sh: LAUNCHER_IMAGE=${LAUNCHER_IMAGE} is not pinned (use @sha256:... or a release tag)" >&2
  exit 2
fi
REPOSITORY="${REPOSITORY:-pagestream}"
TAG="${TAG:-$(git rev-parse --short HEAD)}"
IMAGE="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/pagestream-flex:${TAG}"
TEMPLATE="gs://${BUCKET}/templates/pagestream-${TAG}.json"

cd "$(dirname "$0")/../.."
docker build -f deploy/dataflow/flex.Dockerfile --build-arg "LAUNCHER_IMAGE=${LAUNCHER_IMAGE}" \
  -t "${IMAGE}" .
docker push "${IMAGE}"
gcloud dataflow flex-template build "${TEMPLATE}" \
  --image "${IMAGE}" \
  --sdk-language PYTHON \
  --metadata-file deploy/dataflow/metadata.json \
  --project "${PROJECT}"
echo "template: ${TEMPLATE}"
echo "image:    ${IMAGE}"
