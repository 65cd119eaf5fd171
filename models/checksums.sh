#!/usr/bin/env bash
# Writes models/<name>/SHA256SUMS for every pretrained model directory here (or only the ones named):
# one "sha256  file" line per file of the directory, sorted by name, SHA256SUMS itself left out.
# The zoo jar ships each directory with its SHA256SUMS; InfiniZooModel.initPretrained() refuses any file whose
# SHA-256 differs, so run this after replacing a model's files and commit the result:
#   models/checksums.sh            # every models/*/ directory
#   models/checksums.sh byte-lm    # one
# Check without writing: (cd models/byte-lm && sha256sum -c SHA256SUMS)
set -euo pipefail
cd "$(dirname "$0")"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for d in */; do names+=("${d%/}"); done
fi
for name in "${names[@]}"; do
  if [ ! -f "$name/config.json" ]; then
    echo "models/$name: no config.json (not a model directory)" >&2
    exit 1
  fi
  (cd "$name" && find . -maxdepth 1 -type f ! -name SHA256SUMS ! -name SHA256SUMS.tmp ! -name ".*" -printf '%f\n' | LC_ALL=C sort \
     | xargs -d '\n' sha256sum > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
  echo "models/$name/SHA256SUMS: $(wc -l < "$name/SHA256SUMS") file(s)"
done
