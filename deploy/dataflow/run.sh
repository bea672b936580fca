#!/usr/bin/env bash
# Launches one run of the Flex Template for a schedule slot (default: yesterday, UTC).
#   PROJECT=... REGION=... BUCKET=... TEMPLATE=gs://.../pagestream-TAG.json IMAGE=... \
#   INPUT='gs://crawl/2024-05-01/*.warc.gz gs://feeds/2024-05-01.jsonl' \
#   deploy/dataflow/run.sh [YYYY-MM-DD]
# INPUT holds one or more paths separated by spaces (main.py splits them into --input flags).
# Rerunning a slot reuses its run id, so it replaces that run's output instead of adding to it.
set -euo pipefail
: "${PROJECT:?}" "${REGION:?}" "${BUCKET:?}" "${TEMPLATE:?}" "${IMAGE:?}" "${INPUT:?}"
OUTPUT="${OUTPUT:-gs://${BUCKET}/pagestream/out}"
STATE="${STATE:-gs://${BUCKET}/pagestream/state}"
LOGICAL_DATE="${1:-$(date -u -d yesterday +%F)}"
RUN_ID="daily-${LOGICAL_DATE//-/}"

# One --parameters flag per parameter, each with gcloud's delimiter escape (`gcloud topic
# escaping`): a value may contain commas (globs, several inputs) without being split.
parameter() {
  local name="$1" value="$2" delimiter
  for delimiter in '~' '|' ';' '@'; do
    if [[ "${value}" != *"${delimiter}"* ]]; then
      printf -- '--parameters=^%s^%s=%s' "${delimiter}" "${name}" "${value}"
      return
    fi
  done
  echo "run.sh: ${name} contains every delimiter gcloud could use (~ | ; @)" >&2
  return 1
}

PARAMETERS=()
for name in input output state run_id logical_date sdk_container_image; do
  case "${name}" in
    input) value="${INPUT}" ;; output) value="${OUTPUT}" ;; state) value="${STATE}" ;;
    run_id) value="${RUN_ID}" ;; logical_date) value="${LOGICAL_DATE}" ;;
    sdk_container_image) value="${IMAGE}" ;;
  esac
  flag="$(parameter "${name}" "${value}")"
  PARAMETERS+=("${flag}")
done

gcloud dataflow flex-template run "pagestream-${RUN_ID}-$(date -u +%H%M%S)" \
  --project "${PROJECT}" \
  --region "${REGION}" \
  --template-file-gcs-location "${TEMPLATE}" \
  --temp-location "gs://${BUCKET}/pagestream/tmp" \
  --staging-location "gs://${BUCKET}/pagestream/staging" \
  "${PARAMETERS[@]}"
# The job commits itself; the run is complete when this file exists:
echo "committed when: ${OUTPUT}/_runs/${RUN_ID}.json exists"
