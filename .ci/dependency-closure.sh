#!/usr/bin/env bash
# Dependency closure of the packages, as an app gets it: packs MeaiMetadata and MeaiMetadata.Redis, restores two throwaway
# console apps (net10.0) against the packed folder plus the configured NuGet feed, and prints every package each one
# resolves (from its obj/project.assets.json):
#   (a) MeaiMetadata alone          must pull in no Redis client (StackExchange.Redis, Pipelines.Sockets.Unofficial, any
#                                   *Redis* package) and no tokenizer (Microsoft.ML.Tokenizers*): the script fails if it does;
#   (b) MeaiMetadata + .Redis       must pull in StackExchange.Redis (shows the check above can see it).
# With --compare REV it also packs MeaiMetadata at that commit (a temporary clone) and prints (a) before/after, e.g.
# --compare cc35b38 (the commit before the budget work).
#
# Usage: bash .ci/dependency-closure.sh [--packages DIR] [--compare REV]
#   --packages DIR   use the packages already packed in DIR (e.g. artifacts/package after .ci/run's pack step) instead of
#                    packing (which builds src/MeaiMetadata and src/MeaiMetadata.Redis in Release).
# Environment: CLOSURE_KEEP=1 keeps the work folder and prints its path.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start=$SECONDS

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 DOTNET_CLI_UI_LANGUAGE=en
export MSBUILDTERMINALLOGGER=off

say() { printf 'closure: %s\n' "$*"; }
die() { printf 'closure: %s\n' "$*" >&2; exit 1; }

packages="" compare=""
while [ $# -gt 0 ]; do
  case "$1" in
    --packages) packages=$(cd "$2" && pwd); shift 2 ;;
    --compare) compare=$2; shift 2 ;;
    *) die "unknown argument $1 (usage: $0 [--packages DIR] [--compare REV])" ;;
  esac
done
command -v python3 > /dev/null || die "python3 is needed to read project.assets.json"

work=$(mktemp -d)
[ "${CLOSURE_KEEP:-}" = 1 ] && say "work folder: $work"
trap '[ "${CLOSURE_KEEP:-}" = 1 ] || rm -rf "$work"' EXIT

# 1. The packages of this tree.
if [ -z "$packages" ]; then
  packages=$work/packages-now
  step=$SECONDS
  for project in src/MeaiMetadata/MeaiMetadata.csproj src/MeaiMetadata.Redis/MeaiMetadata.Redis.csproj; do
    dotnet pack "$project" -c Release -o "$packages" -v q -nologo > "$work/pack.log" 2>&1 || { cat "$work/pack.log" >&2; die "dotnet pack $project failed"; }
  done
  say "packed MeaiMetadata and MeaiMetadata.Redis in $((SECONDS - step)) s"
fi
nupkg=$(ls "$packages"/MeaiMetadata.[0-9]*.nupkg 2>/dev/null | head -n 1)
[ -n "$nupkg" ] || die "no MeaiMetadata package in $packages"
version=$(basename "$nupkg" .nupkg); version=${version#MeaiMetadata.}
[ -f "$packages/MeaiMetadata.Redis.$version.nupkg" ] || die "no MeaiMetadata.Redis.$version.nupkg in $packages"

# 2. The package of an older commit, in a temporary clone.
if [ -n "$compare" ]; then
  step=$SECONDS
  git clone -q --no-checkout "$repo" "$work/old-src"
  git -C "$work/old-src" checkout -q "$compare" || die "no commit $compare"
  dotnet pack "$work/old-src/src/MeaiMetadata/MeaiMetadata.csproj" -c Release -o "$work/packages-old" -v q -nologo > "$work/pack-old.log" 2>&1 ||
    { cat "$work/pack-old.log" >&2; die "dotnet pack of MeaiMetadata at $compare failed"; }
  old_nupkg=$(ls "$work"/packages-old/MeaiMetadata.[0-9]*.nupkg | head -n 1)
  old_version=$(basename "$old_nupkg" .nupkg); old_version=${old_version#MeaiMetadata.}
  say "packed MeaiMetadata $old_version at $(git -C "$work/old-src" rev-parse --short HEAD) in $((SECONDS - step)) s"
fi

# 3. Restore a console app per closure. Each generation of packages gets a package folder of its own (the same version
# packed from two commits must not meet in one cache), falling back to the machine's folder for everything else.
machine_packages=${NUGET_PACKAGES:-$HOME/.nuget/packages}
unset NUGET_PACKAGES
mkdir -p "$work/fallback"
if [ -d "$machine_packages" ]; then
  for p in "$machine_packages"/*; do
    case "$(basename "$p")" in meaimetadata*) ;; *) ln -s "$p" "$work/fallback/" ;; esac
  done
fi

# restore NAME LOCAL_FOLDER PACKAGE=VERSION...: prints the resolved packages, "Id Version" per line, sorted.
restore() {
  local name=$1 local_folder=$2; shift 2
  local dir=$work/apps/$name
  mkdir -p "$dir"
  {
    echo '<Project Sdk="Microsoft.NET.Sdk">'
    echo '  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup>'
    echo '  <ItemGroup>'
    for ref in "$@"; do echo "    <PackageReference Include=\"${ref%%=*}\" Version=\"${ref#*=}\" />"; done
    echo '  </ItemGroup>'
    echo '</Project>'
  } > "$dir/$name.csproj"
  echo 'Console.WriteLine();' > "$dir/Program.cs"
  # No <clear/>: the local folder is added to the sources configured for this user (nuget.org by default).
  cat > "$dir/NuGet.Config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config><add key="globalPackagesFolder" value="$work/gp-$(basename "$local_folder")" /></config>
  <packageSources><add key="local" value="$local_folder" /></packageSources>
  <fallbackPackageFolders><add key="machine" value="$work/fallback" /></fallbackPackageFolders>
</configuration>
XML
  dotnet restore "$dir/$name.csproj" -v q -nologo > "$work/restore-$name.log" 2>&1 || { cat "$work/restore-$name.log" >&2; die "restore of $name failed"; }
  python3 - "$dir/obj/project.assets.json" <<'PY'
import json, sys
assets = json.load(open(sys.argv[1]))
for key, library in sorted(assets["libraries"].items(), key=lambda kv: kv[0].lower()):
    if library.get("type") == "package":
        name, version = key.split("/", 1)
        print(name, version)
PY
}

step=$SECONDS
restore core "$packages" "MeaiMetadata=$version" > "$work/core.txt"
restore redis "$packages" "MeaiMetadata=$version" "MeaiMetadata.Redis=$version" > "$work/redis.txt"
[ -n "$compare" ] && restore before "$work/packages-old" "MeaiMetadata=$old_version" > "$work/before.txt"
say "restored in $((SECONDS - step)) s"

# 4. The closures, side by side: one row per package, its version in each closure.
echo
titles=("(a) MeaiMetadata $version" "(b) + MeaiMetadata.Redis $version")
files=("$work/core.txt" "$work/redis.txt")
if [ -n "$compare" ]; then titles=("MeaiMetadata $old_version at $compare (before budgets)" "${titles[@]}"); files=("$work/before.txt" "${files[@]}"); fi
python3 - "${#files[@]}" "${titles[@]}" "${files[@]}" <<'PY'
import sys
n = int(sys.argv[1]); titles = sys.argv[2:2 + n]; files = sys.argv[2 + n:]
closures = [dict(line.split() for line in open(f) if line.strip()) for f in files]
ids = sorted(set().union(*closures), key=str.lower)
print("| Package | " + " | ".join(titles) + " |")
print("|---|" + "---|" * n)
for id in ids:
    print(f"| {id} | " + " | ".join(c.get(id, "") for c in closures) + " |")
print("| **packages** | " + " | ".join(f"**{len(c)}**" for c in closures) + " |")
PY
echo

# 5. The checks.
forbidden='^(StackExchange\.Redis|Pipelines\.Sockets\.Unofficial|Microsoft\.ML\.Tokenizers.*|[^ ]*Redis[^ ]*) '
status=0
if grep -E -i "$forbidden" "$work/core.txt" > "$work/bad.txt"; then
  status=1
  printf 'closure: (a) MeaiMetadata alone pulls in a Redis client or a tokenizer:\n' >&2
  sed 's/^/  /' "$work/bad.txt" >&2
else
  say "(a) MeaiMetadata alone: $(wc -l < "$work/core.txt") packages, no Redis client, no tokenizer"
fi
if grep -q '^StackExchange\.Redis ' "$work/redis.txt"; then
  say "(b) with MeaiMetadata.Redis: $(wc -l < "$work/redis.txt") packages, StackExchange.Redis $(awk '$1 == "StackExchange.Redis" { print $2 }' "$work/redis.txt") among them"
else
  status=1
  echo "closure: (b) MeaiMetadata.Redis does not bring StackExchange.Redis: the check of (a) could not see it either" >&2
fi
if [ -n "$compare" ]; then
  added=$(comm -13 <(cut -d' ' -f1 "$work/before.txt" | sort) <(cut -d' ' -f1 "$work/core.txt" | sort) | paste -sd' ')
  removed=$(comm -23 <(cut -d' ' -f1 "$work/before.txt" | sort) <(cut -d' ' -f1 "$work/core.txt" | sort) | paste -sd' ')
  say "(a) against $compare: added [${added}], removed [${removed}]"
fi
say "done in $((SECONDS - start)) s"
exit $status
