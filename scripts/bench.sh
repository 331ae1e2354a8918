#!/usr/bin/env bash
# Run orc's benchmark suite (issue 8) and print one table of figures, each
# beside its naive baseline measured in the same run.
#
#   scripts/bench.sh                    # all: parse_throughput, cost, flood, detect_latency, delivery
#   ORC_BENCH_CLAUDE=0 scripts/bench.sh # all but delivery (which needs the Claude Code CLI)
#   scripts/bench.sh cost flood         # only these
#
# Each bench prints its own table and writes target/bench/<name>.json; this
# script collects them into target/bench/results.json and prints them all
# (a bench not run this time keeps its last figures, marked "(earlier)").
# Under 15 minutes on a 2-core machine once built; see docs/performance.md.
# Every bench uses a private ORC_HOME and a private tmux socket
# (`tmux -L orc-bench-<pid>-<tag>`) that it kills when it ends.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/bench
mkdir -p "$out"

if [ $# -gt 0 ]; then
  benches=("$@")
else
  benches=(parse_throughput cost flood detect_latency)
  [ "${ORC_BENCH_CLAUDE:-1}" = 1 ] && benches+=(delivery)
fi
for b in "${benches[@]}"; do
  if [ "$b" = delivery ]; then
    # The pinned Claude Code CLI (cached after the first install).
    if ! bash scripts/install-claude.sh >/dev/null; then
      echo "delivery needs the pinned Claude Code CLI and scripts/install-claude.sh could not install it;" >&2
      echo "fix that (npm on PATH, network for the first install) or run ORC_BENCH_CLAUDE=0 $0" >&2
      exit 2
    fi
  fi
done
command -v jq >/dev/null || { echo "bench.sh needs jq" >&2; exit 2; }

start=$(date +%s)
stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT

echo "== building benches"
build_args=()
for b in "${benches[@]}"; do build_args+=(--bench "$b"); done
cargo bench --no-run "${build_args[@]}" || exit 1
built=$(date +%s)

failed=()
for b in "${benches[@]}"; do
  echo
  echo "== cargo bench --bench $b"
  t0=$(date +%s)
  rm -f "$out/$b.json"
  if ! cargo bench --bench "$b" 2>&1 | tee "$out/$b.log"; then
    failed+=("$b")
  fi
  echo "($b took $(( $(date +%s) - t0 )) s)"
done

# detect_latency and delivery write bench/out/<name>.json in their own
# shape: turn them into rows like the others'.
ratio='def ratio($o; $b): if ($o|type)=="number" and ($b|type)=="number" and $o != 0 then $b / $o else null end;'
if [ -f bench/out/detect_latency.json ] && [ bench/out/detect_latency.json -nt "$stamp" ]; then
  jq "$ratio"'{
    bench: "detect_latency",
    title: "state change -> orc ps (push) vs a capture-pane poller every 500 ms, 200 changes",
    when: (now | todate),
    rows: [ .[] | . as $r |
      (["p50","p95","max"][] as $p |
        {figure: "detection \($p), \($r.agents) agents", unit: "ms",
         orc: $r.orc_ms[$p], baseline: $r.poll_500ms_ms[$p],
         ratio: ratio($r.orc_ms[$p]; $r.poll_500ms_ms[$p]), better: "lower",
         target: (if $p == "p95" then "< 200" else "-" end),
         met: (if $p == "p95" then $r.orc_ms[$p] < 200 else null end),
         note: "baseline: capture-pane poller, 500 ms"}) ]
  }' bench/out/detect_latency.json > "$out/detect_latency.json"
fi
if [ -f bench/out/delivery.json ] && [ bench/out/delivery.json -nt "$stamp" ]; then
  jq "$ratio"'. as $d | {
    bench: "delivery",
    title: "\($d.messages) messages to the real Claude Code CLI (stand-in API); baseline: type, sleep 0.5 s, Enter",
    when: (now | todate),
    rows: [
      {figure: "delivered exactly once", unit: "%",
       orc: (100 * $d.orc.exactly_once / $d.messages), baseline: (100 * $d.seed_way.exactly_once / $d.messages),
       ratio: null, better: "higher", target: ">= 100", met: ($d.orc.exactly_once == $d.messages), note: ""},
      {figure: "duplicates", unit: "messages", orc: $d.orc.duplicates, baseline: $d.seed_way.duplicates,
       ratio: null, better: "lower", target: "< 1", met: ($d.orc.duplicates == 0), note: ""},
      {figure: "delivery p50", unit: "ms", orc: $d.orc.p50_ms, baseline: $d.seed_way.p50_ms,
       ratio: ratio($d.orc.p50_ms; $d.seed_way.p50_ms), better: "lower", target: "< 1000",
       met: ($d.orc.p50_ms < 1000), note: ""},
      {figure: "delivery p95", unit: "ms", orc: $d.orc.p95_ms, baseline: $d.seed_way.p95_ms,
       ratio: ratio($d.orc.p95_ms; $d.seed_way.p95_ms), better: "lower", target: "-", met: null, note: ""}
    ]
  }' bench/out/delivery.json > "$out/delivery.json"
fi

# Every bench's latest JSON: this run's ("fresh") and, for benches not run
# this time, the last earlier one (marked as such in the table).
order='{"parse_throughput":0,"detect_latency":1,"delivery":2,"cost":3,"scale":4,"flood":5}'
total=$(( $(date +%s) - start ))
machine=$(jq -n --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
  --arg cores "$(nproc)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --arg kernel "$(uname -r)" --arg tmux "$(tmux -V)" \
  '{cpu: $cpu, cores: ($cores|tonumber), loadavg_at_end: $load, kernel: $kernel, tmux: $tmux}')
{
  for f in "$out"/*.json; do
    [ -f "$f" ] || continue
    [ "$(basename "$f")" = results.json ] && continue
    if [ "$f" -nt "$stamp" ]; then fresh=true; else fresh=false; fi
    jq -c --argjson fresh "$fresh" '. + {fresh: $fresh}' "$f"
  done
} | jq -s --argjson machine "$machine" --arg total "$total" --arg build "$(( built - start ))" \
    --arg failed "${failed[*]:-}" --argjson order "$order" \
    '{when: (now | todate), machine: $machine, seconds: ($total|tonumber),
      build_seconds: ($build|tonumber), failed: ($failed | split(" ") | map(select(. != ""))),
      benches: (sort_by($order[.bench] // 99))}' > "$out/results.json"
if [ "$(jq '.benches | length' "$out/results.json")" = 0 ]; then
  echo "no results" >&2
  exit 1
fi

fmt='def f: if type == "number" then (if (. | fabs) >= 100 then (. | round | tostring)
       elif (. | fabs) >= 10 then ((. * 10 | round) / 10 | tostring)
       else ((. * 100 | round) / 100 | tostring) end) elif . == null then "-" else tostring end;'
echo
echo "== all figures (target/bench/results.json)"
jq -r "$fmt"'.benches[] | (if .fresh then .bench else "\(.bench) (earlier)" end) as $b | .rows[] |
  [$b, "\(.figure) (\(.unit))", (.orc|f), (.baseline|f), (if .ratio == null then "-" else (.ratio|f) + "x" end),
   .target, (if .met == true then "yes" elif .met == false then "NO" else "-" end)] | @tsv' \
  "$out/results.json" |
  (printf 'bench\tfigure\torc\tbaseline\tratio\ttarget\tmet?\n'; cat) | column -t -s $'\t'
met=$(jq '[.benches[] | select(.fresh) | .rows[] | select(.met == true)] | length' "$out/results.json")
missed=$(jq '[.benches[] | select(.fresh) | .rows[] | select(.met == false)] | length' "$out/results.json")
echo
echo "targets met: $met, missed: $missed (this run; \"(earlier)\" rows are from a previous run); suite took ${total} s (build $(( built - start )) s) on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED benches: ${failed[*]} (see target/bench/<name>.log)" >&2
  exit 1
fi
