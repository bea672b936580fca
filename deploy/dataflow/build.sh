#!/usr/bin/env bash
# Builds and pushes the Flex Template image, then writes the template spec to GCS.
#   PROJECT=my-project REGION=europe-west1 BUCKET=my-bucket deploy/dataflow/build.sh
# Needs: docker, gcloud (authenticated), an Artifact Registry repository named $REPOSITORY.
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}"
REPOSITORY="${REPOSITORY:-pagestream}"
TAG="${TAG:-$(git rev-parse --short HEAD)}"
IMAGE="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/pagestream-flex:${TAG}"
TEMPLATE="gs://${BUCKET}/templates/pagestream-${TAG}.json"

cd "$(dirname "$0")/../.."
docker build -f deploy/dataflow/flex.Dockerfile -t "${IMAGE}" .
docker push "${IMAGE}"
gcloud dataflow flex-template build "${TEMPLATE}" \
  --image "${IMAGE}" \
  --sdk-language PYTHON \
  --metadata-file deploy/dataflow/metadata.json \
  --project "${PROJECT}"
echo "template: ${TEMPLATE}"
echo "image:    ${IMAGE}"
