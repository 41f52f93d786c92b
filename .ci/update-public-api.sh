#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to PublicAPI.Unshipped.txt.
# Run from the repository root after a deliberate public API change, then review the diff.
set -euo pipefail
proj=src/MeaiMetadata
out=$(dotnet build "$proj" --no-incremental 2>&1 || true)
grep -oP "error RS0016: Symbol '\K.*(?=' is not part of the declared public API)" <<<"$out" | sort -u >> "$proj/PublicAPI.Unshipped.txt" || true
{ head -1 "$proj/PublicAPI.Unshipped.txt"; tail -n +2 "$proj/PublicAPI.Unshipped.txt" | sort -u; } > "$proj/PublicAPI.Unshipped.txt.tmp"
mv "$proj/PublicAPI.Unshipped.txt.tmp" "$proj/PublicAPI.Unshipped.txt"
