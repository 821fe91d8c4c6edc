#!/usr/bin/env bash
# Shows the cart_abandon trigger firing, for make demo: in a scratch copy
# of this project (so that no tracked data file changes), after an apply,
# herald run -once starts reading events.jsonl at its end; three cart views
# by one customer are appended; the next run starts a journey, and a run an
# hour later (-now) sends its first step's e-mail to the outbox.
set -euo pipefail
herald=$(realpath "$1")
src=$(dirname "$(realpath "$0")")
demo=$(mktemp -d "${TMPDIR:-/tmp}/herald-demo.XXXXXX")
cp -r "$src/." "$demo/"
cd "$demo"
rm -rf .herald/outbox .herald/outbox-sms

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
"$herald" run -once 2>run.log || { cat run.log; exit 1; }
n=$(date -u +%s)
for i in 1 2 3; do
  printf '{"id":"demo-%s-%s","customer_id":"c000001","type":"page_view","path":"/cart","at":"%s"}\n' "$n" "$i" "$now"
done >> data/events.jsonl
echo "Appended three /cart page views by customer c000001 to data/events.jsonl:"
"$herald" run -once 2>run.log || { cat run.log; exit 1; }
"$herald" journeys list -no-color
later=$(date -u -d '+65 min' +%Y-%m-%dT%H:%M:%SZ)
echo
echo "An hour later (herald run -once -now=$later), the journey's first step:"
"$herald" run -once -now="$later" 2>/dev/null
echo
echo "The cart e-mail: $(ls "$demo"/.herald/outbox/*.eml)"
