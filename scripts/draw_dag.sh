#!/usr/bin/env bash
# Draw the rule graph and the job DAG (done jobs dashed, pending ones solid) into
# results/dag/: Mermaid Markdown always (renders on code hosts), SVG too when graphviz's
# `dot` is installed. Extra arguments go to snakemake (e.g. --configfile config/full.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/dag
mkdir -p "$out"
sm() { snakemake "$@" 2>/dev/null; }
legend='Dashed outline: job done (outputs up to date). Solid: pending (would run).'
for kind in rulegraph dag; do
  sm --$kind mermaid-js "${@}" >"$out/$kind.mmd"
  { echo "# teachable: $kind"; echo; echo "$legend"; echo; echo '```mermaid'; cat "$out/$kind.mmd"; echo '```'; } >"$out/$kind.md"
  if command -v dot >/dev/null; then sm --$kind dot "${@}" | dot -Tsvg >"$out/$kind.svg"; fi
done
ls -1 "$out"
