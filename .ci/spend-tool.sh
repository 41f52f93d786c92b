#!/usr/bin/env bash
# The spend tool as a user gets it: installs the package .ci/run packed (artifacts/package) with `dotnet tool install`
# into a temporary tool path, runs `meai-spend --help`, then runs it against a live strict fake OpenAI server
# (tests/MeaiMetadata.FakeOpenAI.Host, built by .ci/run's build step) whose stored completions were made by tagged
# requests through the library, and checks the output: exact CSV figures, docs/spend.md's prices file and appsettings
# file pricing a model the built-in prices lack, one app as a table, an empty range (a line, exit 0), a base URL
# without /v1 (the hint, exit 2) and an option given twice (exit 2).
set -uo pipefail
cd "$(dirname "$0")/.."

package_dir=$(pwd)/artifacts/package
version=$(dotnet msbuild tools/MeaiMetadata.SpendTool/MeaiMetadata.SpendTool.csproj -getProperty:Version) || exit 1
[ -f "$package_dir/MeaiMetadata.SpendTool.$version.nupkg" ] ||
  { echo "spend-tool: no MeaiMetadata.SpendTool.$version.nupkg in artifacts/package (run the pack step first)" >&2; exit 1; }
host=tests/MeaiMetadata.FakeOpenAI.Host/bin/Release/net10.0/MeaiMetadata.FakeOpenAI.Host.dll
[ -f "$host" ] || { echo "spend-tool: $host is not built (run the build step first)" >&2; exit 1; }

work=$(mktemp -d)
host_pid=""
cleanup() {
  if [ -n "$host_pid" ]; then kill "$host_pid" 2>/dev/null; wait "$host_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
status=0
check() { # check DESCRIPTION COMMAND...: runs the command, says ok or FAILED
  if "${@:2}"; then echo "spend-tool: ok: $1"; else echo "spend-tool: FAILED: $1" >&2; status=1; fi
}

# A fresh tool path: the install resolves from the package folder, never from an earlier install.
dotnet tool install MeaiMetadata.SpendTool --tool-path "$work/tools" --add-source "$package_dir" --version "$version" ||
  { echo "spend-tool: dotnet tool install failed" >&2; exit 1; }
meai_spend=$work/tools/meai-spend

"$meai_spend" --help > "$work/help.txt"; help_exit=$?
check "--help exits 0 with the usage" grep -q "^Usage: meai-spend --since" "$work/help.txt"
check "--help exit code 0 (was $help_exit)" test "$help_exit" -eq 0

dotnet "$host" > "$work/host.txt" 2>&1 &
host_pid=$!
for _ in $(seq 1 120); do
  grep -q "^Serving" "$work/host.txt" && break
  kill -0 "$host_pid" 2>/dev/null || break
  sleep 0.5
done
cat "$work/host.txt"
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/v1/' "$work/host.txt" | head -n 1)
[ -n "$url" ] || { echo "spend-tool: the fake server did not start" >&2; exit 1; }
since=$(date -u -d yesterday +%F) # the stored completions were created just now; yesterday keeps a run at midnight in range

export OPENAI_API_KEY=no-key-needed
run() { "$meai_spend" "$@" > "$work/out.txt" 2> "$work/err.txt"; echo $? > "$work/exit.txt"; }
exit_is() { [ "$(cat "$work/exit.txt")" = "$1" ] || { echo "    exit $(cat "$work/exit.txt"), not $1"; sed 's/^/    | /' "$work/err.txt"; return 1; }; }
out_is() { diff <(printf '%s\n' "$@") "$work/out.txt" > "$work/diff.txt" || { sed 's/^/    /' "$work/diff.txt"; return 1; }; }

# 1,000 input tokens (200 cached) and 100 output tokens per request; gpt-4o-mini built in at 0.15 / 0.075 / 0.6 per
# million: 800 x 0.15 + 200 x 0.075 + 100 x 0.6 = 195 per million per request. my-finetune has no built-in price.
run --since "$since" --format csv --base-url "$url"
check "csv: exit 0" exit_is 0
check "csv: the exact figures, my-finetune unpriced" out_is \
  "app,model,requests,input_tokens,cached_input_tokens,output_tokens,cost_usd" \
  "sales-assistant,gpt-4o-mini,2,2000,400,200,0.00039" \
  "sales-assistant,my-finetune,1,1000,200,100," \
  "support-bot,gpt-4o-mini,3,3000,600,300,0.000585"
check "csv: stderr names the unpriced model" grep -q "no price for 'my-finetune'" "$work/err.txt"
check "the report equals the server process's meter (dify.app.cost) for the priced models" \
  grep -q "sales-assistant 0.000390, support-bot 0.000585 USD" "$work/host.txt"

# docs/spend.md's example files price my-finetune at 2 / 1 cached / 8 per million: 800 x 2 + 200 x 1 + 100 x 8 = 2,600.
for prices in "--prices docs/spend-prices.json" "--config docs/spend-appsettings.json"; do
  run --since "$since" --format csv --base-url "$url" $prices
  check "$prices: exit 0" exit_is 0
  check "$prices: my-finetune priced, the others as before" out_is \
    "app,model,requests,input_tokens,cached_input_tokens,output_tokens,cost_usd" \
    "sales-assistant,gpt-4o-mini,2,2000,400,200,0.00039" \
    "sales-assistant,my-finetune,1,1000,200,100,0.0026" \
    "support-bot,gpt-4o-mini,3,3000,600,300,0.000585"
done

run --since "$since" --app support-bot --base-url "$url"
check "table of one app: exit 0" exit_is 0
check "table of one app: its row and cost" grep -q "support-bot .* gpt-4o-mini .* 3 .* 0.000585" "$work/out.txt"
check "table of one app: no other app" bash -c "! grep -q sales-assistant '$work/out.txt'"

run --since 2020-01-01 --until 2020-01-31 --base-url "$url"
check "empty range: exit 0" exit_is 0
check "empty range: one friendly line" out_is "No stored completions from 2020-01-01 to 2020-01-31 (UTC). Only Chat Completions requests sent with store: true are stored (tagged requests are, by default); OpenAI lists them after a short delay."

run --since "$since" --base-url "${url%v1/}"
check "base URL without /v1: exit 2" exit_is 2
check "base URL without /v1: the hint" grep -q "the base URL probably lacks /v1" "$work/err.txt"

run --since "$since" --since "$since" --base-url "$url"
check "an option twice: exit 2" exit_is 2
check "an option twice: named" grep -q -- "--since is given twice" "$work/err.txt"

exit $status
