#!/usr/bin/env bash
# CI smoke run: every benchmark once (BenchmarkDotNet's Dry job, in process), so they keep compiling and running.
# The in-session and end-to-end rows check that their requests really are tagged; a failed check exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run -c Release --no-build --project benchmarks/MeaiMetadata.Benchmarks -- --filter '*' --job Dry --inProcess --artifacts "${TMPDIR:-/tmp}/meaimetadata-bdn-smoke"
