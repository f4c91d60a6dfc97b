#!/bin/sh
# Loads Harrier's Kibana saved objects (data view "falco-*" and the
# "Harrier alerts" dashboard) through Kibana's saved objects import API.
# Run by the kibana-setup service of docker-compose.yml; also usable
# against any Kibana: KIBANA_URL=https://kibana:5601 KIBANA_AUTH=user:pass sh load.sh
set -eu
url=${KIBANA_URL:-http://localhost:5601}
file=${HARRIER_OBJECTS:-$(dirname "$0")/harrier.ndjson}
auth=""
[ -n "${KIBANA_AUTH:-}" ] && auth="-u ${KIBANA_AUTH}"

i=0
until curl -fsS $auth "$url/api/status" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -ge 60 ] && { echo "kibana-setup: Kibana at $url not ready after 5 minutes" >&2; exit 1; }
	sleep 5
done

out=$(curl -sS $auth -X POST "$url/api/saved_objects/_import?overwrite=true" \
	-H 'kbn-xsrf: harrier' -F "file=@$file")
echo "$out"
case $out in
*'"success":true'*) echo "kibana-setup: imported $file; open $url/app/dashboards#/view/harrier-alerts-dashboard" ;;
*) echo "kibana-setup: import failed" >&2; exit 1 ;;
esac
