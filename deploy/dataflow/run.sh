#!/usr/bin/env bash
# Launches one run of the Flex Template for a schedule slot (default: yesterday, UTC).
#   PROJECT=... REGION=... BUCKET=... TEMPLATE=gs://.../pagestream-TAG.json IMAGE=... \
#   INPUT='gs://crawl/2024-05-01/*.warc.gz' deploy/dataflow/run.sh [YYYY-MM-DD]
# Rerunning a slot reuses its run id, so it replaces that run's output instead of adding to it.
set -euo pipefail
: "${PROJECT:?}" "${REGION:?}" "${BUCKET:?}" "${TEMPLATE:?}" "${IMAGE:?}" "${INPUT:?}"
OUTPUT="${OUTPUT:-gs://${BUCKET}/pagestream/out}"
STATE="${STATE:-gs://${BUCKET}/pagestream/state}"
LOGICAL_DATE="${1:-$(date -u -d yesterday +%F)}"
RUN_ID="daily-${LOGICAL_DATE//-/}"

gcloud dataflow flex-template run "pagestream-${RUN_ID}-$(date -u +%H%M%S)" \
  --project "${PROJECT}" \
  --region "${REGION}" \
  --template-file-gcs-location "${TEMPLATE}" \
  --temp-location "gs://${BUCKET}/pagestream/tmp" \
  --staging-location "gs://${BUCKET}/pagestream/staging" \
  --parameters "input=${INPUT},output=${OUTPUT},state=${STATE},run_id=${RUN_ID},logical_date=${LOGICAL_DATE}" \
  --parameters "sdk_container_image=${IMAGE}"
# The job commits itself; the run is complete when this file exists:
echo "committed when: ${OUTPUT}/_runs/${RUN_ID}.json exists"
