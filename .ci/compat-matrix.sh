#!/usr/bin/env bash
# Compatibility matrix: the wire tests (official OpenAI SDK against the strict fake server; Chat Completions and
# Responses, streaming and not) against each combination of Microsoft.Extensions.AI.OpenAI and OpenAI below, with the
# Microsoft.Extensions.AI and Microsoft.Extensions.* lines that go with that Microsoft.Extensions.AI.OpenAI (lines_of).
# The tests are built by .ci/compat-wire/MeaiMetadata.CompatWire.csproj (the integration tests' Wire/ sources, without the
# samples) into artifacts/compat/out, so the main build's bin/ and obj/ are never touched. The library and the fake server
# do not depend on the combination (the library compiles against its declared lower bounds, VersionOverride), so they are
# built by the first combination and found up to date by the others; the test project is restored and built afresh for
# each. Logs and results: artifacts/compat/<combination>. Prints one table row per combination and exits non-zero when a
# combination does not do what the EXPECTED column says:
#   pass          every wire test passes
#   break:TYPE@TEXT  every failure is exception TYPE whose message contains TEXT (a break outside this library's
#                 control, such as a method of the OpenAI SDK that Microsoft.Extensions.AI.OpenAI calls and that is gone;
#                 reported as a known break, not a CI failure)
#   unresolvable  the combination cannot be installed: the MEAI.OpenAI package needs a newer OpenAI (NuGet's
#                 NU1605 downgrade error in a plain project, CS1705 under this repository's central pinning)
# Usage: bash .ci/compat-matrix.sh [MEAI_OPENAI_VERSION OPENAI_VERSION EXPECTED ...]
set -uo pipefail
cd "$(dirname "$0")/.."

# MEAI.OpenAI  OpenAI  expected
matrix=(
  10.10.1 2.13.0 unresolvable
  10.10.1 2.14.0 pass
  10.10.1 2.15.0 break:System.MissingMethodException@ResponsesClient.CreateResponseStreamingAsync
  10.11.0 2.13.0 unresolvable
  10.11.0 2.14.0 pass
  10.11.0 2.15.0 break:System.MissingMethodException@ResponsesClient.CreateResponseStreamingAsync
  11.0.0  2.14.0 pass
  11.0.0  2.15.0 break:System.MissingMethodException@ResponsesClient.CreateResponseStreamingAsync
)
[ "$#" -gt 0 ] && matrix=("$@")

# The Microsoft.Extensions.AI line (Microsoft.Extensions.AI, .Abstractions, the dotnet/extensions test packages) and the
# Microsoft.Extensions.* line a combination runs with: those an app on that Microsoft.Extensions.AI.OpenAI has.
lines_of() {
  case $1 in
    10.*) echo "10.11.0 10.0.13" ;;
    11.*) echo "11.0.0 11.0.0" ;;
    *) return 1 ;;
  esac
}

project=.ci/compat-wire/MeaiMetadata.CompatWire.csproj
filter='FullyQualifiedName~MeaiMetadata.IntegrationTests.Wire'
root=artifacts/compat
out=$root/out
rm -rf "$out"
mkdir -p "$root"
rows=$root/rows.tsv
: > "$rows"

for ((i = 0; i < ${#matrix[@]}; i += 3)); do
  meai=${matrix[i]} openai=${matrix[i + 1]} expected=${matrix[i + 2]}
  read -r meai_line extensions_line < <(lines_of "$meai") || { echo "compat: no Microsoft.Extensions.AI line known for Microsoft.Extensions.AI.OpenAI $meai" >&2; exit 2; }
  name="meai-openai-$meai+openai-$openai"
  dir=$root/$name
  rm -rf "$dir" "$out/bin/MeaiMetadata.CompatWire" "$out/obj/MeaiMetadata.CompatWire"
  mkdir -p "$dir"
  # NU1608 (a version outside the library's declared range) is let through: the matrix measures what works, and the
  # declared ranges are derived from it.
  props=(-c Release --artifacts-path "$out" "-p:MeaiOpenAIVersion=$meai" "-p:OpenAIVersion=$openai"
         "-p:MeaiVersion=$meai_line" "-p:MicrosoftExtensionsVersion=$extensions_line" -p:WarningsNotAsErrors=NU1608)
  start=$SECONDS
  printf '\n-- %s (expected: %s; Microsoft.Extensions.AI %s, Microsoft.Extensions.* %s)\n' "$name" "$expected" "$meai_line" "$extensions_line"

  if ! dotnet build "$project" "${props[@]}" -warnaserror -p:TreatWarningsAsErrors=true > "$dir/build.log" 2>&1; then
    if grep -qE "NU1605|CS1705" "$dir/build.log"; then
      # NuGet reports the downgrade (NU1605) in a plain project; under central transitive pinning the compiler does (CS1705).
      needs=$(grep -oE "uses 'OpenAI, Version=[0-9.]+|NU1605[^[]*" "$dir/build.log" | head -n 1 | sed -E "s/uses 'OpenAI, Version=([0-9]+[.][0-9]+[.][0-9]+).*/needs OpenAI >= \\1 (CS1705)/; s/ *$//")
      printf '%s\t%s\t%s\tunresolvable\t-\t-\tMicrosoft.Extensions.AI.OpenAI %s %s\t%s\n' "$meai" "$openai" "$expected" "$meai" "$needs" "$((SECONDS - start))" >> "$rows"
    else
      tail -n 30 "$dir/build.log"
      printf '%s\t%s\t%s\tbuild-failed\t-\t-\tsee %s\t%s\n' "$meai" "$openai" "$expected" "$dir/build.log" "$((SECONDS - start))" >> "$rows"
    fi
    continue
  fi

  # The build took the combination's versions (a measurement of other versions would not be one): the test project's
  # deps.json names each package at the version asked for.
  deps=$(ls "$out"/bin/MeaiMetadata.CompatWire/*/MeaiMetadata.CompatWire.deps.json 2>/dev/null | head -n 1)
  missing=""
  for want in "Microsoft.Extensions.AI.OpenAI/$meai" "OpenAI/$openai" "Microsoft.Extensions.AI/$meai_line" "Microsoft.Extensions.Logging.Abstractions/$extensions_line"; do
    [ -n "$deps" ] && grep -q "\"$want\"" "$deps" || missing="$missing $want"
  done
  if [ -n "$missing" ]; then
    printf '%s\t%s\t%s\twrong-versions\t-\t-\tnot in %s:%s\t%s\n' "$meai" "$openai" "$expected" "${deps:-the deps.json}" "$missing" "$((SECONDS - start))" >> "$rows"
    continue
  fi

  dotnet test "$project" "${props[@]}" --no-build --filter "$filter" \
    --logger "trx;LogFileName=wire.trx" --results-directory "$dir" > "$dir/test.log" 2>&1
  # One row from the TRX file: passed, failed, and for the failures which test and which exception.
  python3 - "$dir/wire.trx" "$meai" "$openai" "$expected" "$((SECONDS - start))" >> "$rows" <<'PY'
import re, sys, xml.etree.ElementTree as ET
trx, meai, openai, expected, seconds = sys.argv[1:]
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
try:
    root = ET.parse(trx).getroot()
except (OSError, ET.ParseError) as e:
    print(f"{meai}\t{openai}\t{expected}\tno-results\t-\t-\t{e}\t{seconds}")
    sys.exit()
passed = failed = 0
failures = []
for r in root.iterfind(".//t:UnitTestResult", ns):
    if r.get("outcome") == "Passed":
        passed += 1
    elif r.get("outcome") in ("Failed", "Error", "Timeout", "Aborted"):
        failed += 1
        msg = r.findtext(".//t:ErrorInfo/t:Message", default="", namespaces=ns).strip()
        m = re.match(r"([\w.]+(?:Exception|Error))\b", msg)
        failures.append((r.get("testName", "?"), m.group(1) if m else "?", msg))
types = sorted({t for _, t, _ in failures})
# A known break holds when every failure has the expected exception type and names the expected member.
if failed == 0:
    result = "pass" if passed > 0 else "no-tests"
elif expected.startswith("break:") and all(
        t == expected[6:].split("@")[0] and expected.partition("@")[2] in msg for _, t, msg in failures):
    result = "break"
else:
    result = "fail"
with open(trx + ".failures.txt", "w") as f:
    for name, _, msg in failures:
        f.write(f"{name}\n    {msg.splitlines()[0] if msg else '?'}\n")
first = failures[0][2].splitlines()[0] if failures else ""
# "Method not found: 'R T.M(args)'" -> T.M; otherwise the message's first 100 characters.
member = re.search(r"Method not found: '[^ ]+ ([\w.`]+)\(", first)
detail = f"{types[0]}: {member.group(1).split('.', 2)[-1] if member else first[:100]}" if failed else "-"
print(f"{meai}\t{openai}\t{expected}\t{result}\t{passed}\t{failed}\t{detail}\t{seconds}")
PY
  tail -n 3 "$dir/test.log"
done

# The table, and the verdict: an unexpected result fails; a known break that no longer reproduces is only reported.
python3 - "$rows" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
head = ("Microsoft.Extensions.AI.OpenAI", "OpenAI", "expected", "result", "passed", "failed", "first failure / detail", "s")
print()
print("compatibility matrix (wire tests: Chat Completions + Responses, streaming and not)")
shown = [r[:2] + [r[2].split("@")[0]] + r[3:] for r in rows]
w = [max(len(str(r[i])) for r in shown + [list(head)]) for i in range(len(head))]
for r in [list(head), ["-" * n for n in w]] + shown:
    print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip())
def as_expected(r):
    return r[3] == r[2] or (r[2].startswith("break:") and r[3] in ("break", "pass"))
bad = [r for r in rows if not as_expected(r)]
for r in rows:
    if r[2].startswith("break:") and r[3] == "pass":
        print(f"note: the known break of {r[0]} + OpenAI {r[1]} no longer reproduces: update the README and CompatibilityCheck")
    elif r[2].startswith("break:") and r[3] == "break":
        print(f"known break: Microsoft.Extensions.AI.OpenAI {r[0]} + OpenAI {r[1]}: {r[5]} tests fail with {r[6]} (outside this library; the package range excludes it)")
for r in bad:
    print(f"UNEXPECTED: Microsoft.Extensions.AI.OpenAI {r[0]} + OpenAI {r[1]}: expected {r[2]}, got {r[3]} ({r[6]})")
print(f"compat: {len(rows) - len(bad)} of {len(rows)} combinations as expected")
sys.exit(1 if bad else 0)
PY
