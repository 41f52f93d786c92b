#!/usr/bin/env bash
# The docs check: what a new user does with README.md and docs/*.md, against the packages .ci/run packed (artifacts/package).
#
# THE MARKER. A C# block is a whole program when its info string starts with "csharp program":
#
#   ```csharp program [web] [run] [package=Id ...]
#
#   program       the block is a whole Program.cs of a new console app (`dotnet new console`); CI builds it.
#   web           ... of a new web app instead (`dotnet new web`: Microsoft.NET.Sdk.Web).
#   run           CI also runs it against the strict fake OpenAI server (OPENAI_BASE_URL, OPENAI_API_KEY in the environment).
#                 A console program must exit 0. A web program is started with --urls, and the first `curl` line of the
#                 next ```bash block after it is sent to it (its http://localhost:5000 replaced by the real address).
#                 Either way the fake must then have received a request tagged with a dify_app_id, and answered 200.
#   package=Id    a package the page tells the reader to add besides the README's (MeaiMetadata.AspNetCore: the packed one;
#                 any other: the newest stable version, as `dotnet add package` picks it).
#
# Renderers (GitHub, nuget.org) take the first word of the info string as the language, so the marker does not show.
# Other ```csharp blocks are fragments or sketches and are not compiled.
#
# THE APP. Every program gets the packages the README's install section adds: its ```bash app blocks (info string
# "bash app") run as written in a new `dotnet new console` app, with $HOME/meaimetadata/packages meaning artifacts/package.
# So `dotnet new nugetconfig`, `dotnet nuget add source` and `dotnet add package` themselves are tested, and each program
# gets the versions `dotnet add package` picks today (OpenAI pinned as the README says). Every program is a new project
# outside the repository (no Directory.Build.props, no central versions), built with warnings as errors.
#
# Steps: the packed README (no repository-only text left) -> find the blocks (and start the fake server) -> the app from
# the README's commands -> build every program (one parallel build) -> run the `run` programs against the fake server.
#
# Environment: DOCS_CHECK_PIN="Id=Version ..." adds --version to the README's `dotnet add package Id` lines (to try the docs
# on an older line locally; CI does not set it). DOCS_CHECK_KEEP=1 keeps the work folder and prints its path.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start_all=$SECONDS

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 DOTNET_CLI_UI_LANGUAGE=en
export MSBUILDTERMINALLOGGER=off

say() { printf 'docs: %s\n' "$*"; }
die() { printf 'docs: %s\n' "$*" >&2; exit 1; }

# 1. The packed packages, and the core package's README (the user README without repository-only text).
package_dir=$repo/artifacts/package
nupkg=$(ls "$package_dir"/MeaiMetadata.[0-9]*.nupkg 2>/dev/null | head -n 1)
[ -n "$nupkg" ] || die "no MeaiMetadata package in artifacts/package (run the pack step of .ci/run first)"
version=$(basename "$nupkg" .nupkg); version=${version#MeaiMetadata.}
[ -f "$package_dir/MeaiMetadata.AspNetCore.$version.nupkg" ] || die "no MeaiMetadata.AspNetCore.$version.nupkg in artifacts/package"
if command -v unzip > /dev/null; then packed_readme=$(unzip -p "$nupkg" README.md)
else packed_readme=$(python3 -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read("README.md").decode())' "$nupkg"); fi
[ -n "$packed_readme" ] || die "MeaiMetadata.$version.nupkg has no README.md"
grep -q '^## Quick start' <<<"$packed_readme" || die "the packed README has no Quick start"
if grep -n -E 'repository-only|dotnet test|dotnet pack|git clone' <<<"$packed_readme" >&2; then
  die "the packed README still holds repository-only text (above)"
fi
say "packed README: the user README, $(wc -l <<<"$packed_readme") lines, no repository-only text"

work=$(mktemp -d)
[ "${DOCS_CHECK_KEEP:-}" = 1 ] && say "work folder: $work"
pids=()   # the processes this script started (the fake server, a web program): stopped on exit, by their ids
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; [ "${DOCS_CHECK_KEEP:-}" = 1 ] || rm -rf "$work"' EXIT

# 2. The blocks: a tab-separated list (name, source, attributes) and the programs' text, one folder each.
mkdir -p "$work/apps"
for page in README.md docs/*.md; do
  [ -f "$page" ] || continue
  awk -v page="$page" -v dir="$work" '
    /^```/ && !inblock {
      info = substr($0, 4); inblock = 1; kind = ""
      if (info ~ /^csharp program( |$)/) {
        n++; name = page; sub(/\.md$/, "", name); sub(/^docs\//, "", name); gsub(/[^A-Za-z0-9]/, "_", name); name = name "_" n
        kind = "program"; file = dir "/apps/" name "/Program.cs"; system("mkdir -p " dir "/apps/" name)
        attrs = substr(info, 16); printf "%s\t%s:%d\t%s\n", name, page, NR + 1, attrs >> (dir "/blocks.tsv")
        last_program = name; want_curl = (attrs ~ /(^| )web( |$)/ && attrs ~ /(^| )run( |$)/)
      } else if (info ~ /^bash app( |$)/) {
        kind = "app"
      } else if (info ~ /^bash/ && want_curl) {
        kind = "curl"
      } else if (info ~ /^csharp/) {
        want_curl = 0
      }
      next
    }
    /^```/ && inblock { inblock = 0; if (kind == "program") close(file); if (kind == "curl") want_curl = 0; next }
    inblock && kind == "program" { print > file }
    inblock && kind == "app" { print >> (dir "/app-commands.sh") }
    inblock && kind == "curl" && /^curl / { print > (dir "/apps/" last_program "/curl"); want_curl = 0 }
  ' "$page"
done
[ -f "$work/blocks.tsv" ] || die "no block marked \"csharp program\" in README.md or docs/*.md"
[ -f "$work/app-commands.sh" ] || die "README.md has no \"bash app\" block (the install commands)"
say "$(wc -l < "$work/blocks.tsv") programs: $(cut -f2 "$work/blocks.tsv" | tr '\n' ' ')"

# The strict fake OpenAI server (tests/MeaiMetadata.FakeOpenAI.Cli: prints its base URL, then one line per request),
# built and started now, beside the steps below.
(dotnet build tests/MeaiMetadata.FakeOpenAI.Cli -c Release -v q -nologo > "$work/fake-build.log" 2>&1 &&
  exec dotnet tests/MeaiMetadata.FakeOpenAI.Cli/bin/Release/net10.0/MeaiMetadata.FakeOpenAI.Cli.dll > "$work/fake.log" 2>&1) &
fake=$!; pids+=("$fake")

# NuGet: a package folder of this run (a copy of MeaiMetadata $version cached from an earlier pack cannot stand in for
# the one just packed), falling back to the machine's folder for everything else (no download of what it already has).
mkdir -p "$work/fallback"
machine_packages=${NUGET_PACKAGES:-$HOME/.nuget/packages}
if [ -d "$machine_packages" ]; then
  for p in "$machine_packages"/*; do
    case "$(basename "$p")" in meaimetadata*) ;; *) ln -s "$p" "$work/fallback/" ;; esac
  done
fi
cat > "$work/NuGet.Config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config><add key="globalPackagesFolder" value="$work/packages" /></config>
  <fallbackPackageFolders><add key="machine" value="$work/fallback" /></fallbackPackageFolders>
</configuration>
XML
unset NUGET_PACKAGES

# 3. The app, made with the README's commands.
step_start=$SECONDS
app=$work/apps/app
dotnet new console -o "$app" --no-restore > "$work/app.log" 2>&1 || { cat "$work/app.log" >&2; die "dotnet new console failed"; }
while IFS= read -r line; do
  line=${line//'$HOME/meaimetadata/packages'/$package_dir}
  if [[ $line =~ ^dotnet\ add\ package\ ([A-Za-z0-9_.-]+) ]] && [[ $line != *--version* ]]; then
    for pin in ${DOCS_CHECK_PIN:-}; do
      [ "${pin%%=*}" = "${BASH_REMATCH[1]}" ] && line="dotnet add package ${BASH_REMATCH[1]} --version ${pin#*=}"
    done
  fi
  [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
  echo "\$ $line" >> "$work/app.log"
  (cd "$app" && eval "$line") >> "$work/app.log" 2>&1 || { cat "$work/app.log" >&2; die "the README's install command failed: $line"; }
done < "$work/app-commands.sh"
cp "$app/nuget.config" "$work/apps/nuget.config" 2>/dev/null || die "the README's commands made no nuget.config"
references=$(grep -E '<PackageReference ' "$app"/app.csproj)
say "the README's install commands: $(grep -c . <<<"$references") packages ($(sed -E 's/.*Include="([^"]+)" Version="([^"]+)".*/\1 \2/' <<<"$references" | paste -sd, | sed 's/,/, /g')) in $((SECONDS - step_start)) s"

# 4. Every program: a project of its own (the app's csproj; Microsoft.NET.Sdk.Web for web programs), one parallel build.
step_start=$SECONDS
{ echo '<Solution>'; } > "$work/apps/docs.slnx"
while IFS=$'\t' read -r name source attrs; do
  sdk=Microsoft.NET.Sdk; [[ " $attrs " == *" web "* ]] && sdk=Microsoft.NET.Sdk.Web
  extra=""   # the marker's packages, as csproj lines
  for word in $attrs; do
    case "$word" in
      package=MeaiMetadata.AspNetCore) extra+="    <PackageReference Include=\"MeaiMetadata.AspNetCore\" Version=\"$version\" />"$'\n' ;;
      package=*) extra+="    <PackageReference Include=\"${word#package=}\" Version=\"*\" />"$'\n' ;;
      web|run) ;;
      *) die "$source: unknown word '$word' in the marker" ;;
    esac
  done
  sed "s/Sdk=\"Microsoft.NET.Sdk\"/Sdk=\"$sdk\"/" "$app/app.csproj" > "$work/apps/$name/$name.csproj"
  [ -z "$extra" ] || sed -i "s#</Project>#  <ItemGroup>\n${extra//$'\n'/\\n}  </ItemGroup>\n</Project>#" "$work/apps/$name/$name.csproj"
  echo "  <Project Path=\"$name/$name.csproj\" />" >> "$work/apps/docs.slnx"
done < "$work/blocks.tsv"
echo '</Solution>' >> "$work/apps/docs.slnx"
dotnet build "$work/apps/docs.slnx" -warnaserror -p:TreatWarningsAsErrors=true > "$work/build.log" 2>&1
status=0
while IFS=$'\t' read -r name source attrs; do
  if [ -f "$work/apps/$name/bin/Debug/net10.0/$name.dll" ]; then
    say "builds: $source ($attrs)"
  else
    status=1
    echo "docs: does NOT build: $source ($name)" >&2
    grep -E "(error|warning) [A-Z]+[0-9]+" "$work/build.log" | grep -E "/apps/$name/" | sed -E "s# \[$work/apps/[^]]*\]\$##; s#$work/apps/##g" | sort -u | head -n 15 >&2
  fi
done < "$work/blocks.tsv"
if [ "$status" -ne 0 ] && ! grep -qE "$work/apps/[^/]+/" "$work/build.log"; then
  grep -E "error|warning" "$work/build.log" | sort -u | head -n 15 >&2   # a failure that names no program
fi
say "build: $((SECONDS - step_start)) s"
[ "$status" -eq 0 ] || die "a program of the docs does not build"

# 5. Every `run` program against the strict fake OpenAI server (started in step 2).
step_start=$SECONDS
for _ in $(seq 600); do [ -s "$work/fake.log" ] && break; kill -0 "$fake" 2>/dev/null || break; sleep 0.1; done
base_url=$(head -n 1 "$work/fake.log" 2>/dev/null)
[[ $base_url == http://127.0.0.1:*/v1/ ]] || { cat "$work/fake-build.log" "$work/fake.log" >&2; die "the fake server did not start"; }
export OPENAI_BASE_URL=$base_url OPENAI_API_KEY=sk-docs-check

# A new line of the fake's log since line $1, for a tagged request it answered 200.
tagged_since() { tail -n +"$(($1 + 1))" "$work/fake.log" | grep -E '^POST .* 200 .*"dify_app_id":"[^"]+' | head -n 1; }

while IFS=$'\t' read -r name source attrs; do
  [[ " $attrs " == *" run "* ]] || continue
  dll=$work/apps/$name/bin/Debug/net10.0/$name.dll
  seen=$(wc -l < "$work/fake.log")
  if [[ " $attrs " == *" web "* ]]; then
    [ -f "$work/apps/$name/curl" ] || die "$source: a web program marked run needs a curl line in the next bash block"
    (cd "$work/apps/$name" && exec dotnet "$dll" --urls http://127.0.0.1:0) > "$work/$name.log" 2>&1 &
    web=$!; pids+=("$web")
    address=""
    for _ in $(seq 300); do
      address=$(grep -o -m 1 'Now listening on: http://127.0.0.1:[0-9]*' "$work/$name.log" | sed 's/Now listening on: //')
      [ -n "$address" ] && break
      kill -0 "$web" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$address" ] || { cat "$work/$name.log" >&2; die "$source: the web program did not start"; }
    request=$(sed "s#http://localhost:5000#$address#g; s#^curl #curl --fail-with-body -sS --max-time 60 #" "$work/apps/$name/curl")
    answer=$(eval "$request" 2>&1) || { echo "$answer" >&2; cat "$work/$name.log" >&2; die "$source: the request failed: $request"; }
    kill "$web" 2>/dev/null; wait "$web" 2>/dev/null
    outcome="started, answered the README's curl with \"$answer\""
  else
    answer=$(cd "$work/apps/$name" && timeout 120 dotnet "$dll" 2>&1) || { echo "$answer" >&2; die "$source: the program exited non-zero"; }
    outcome="ran, printed \"$(grep -v -E '^(info|warn|dbug|trce): |^      ' <<<"$answer" | head -n 1)\""
  fi
  for _ in $(seq 20); do [ -n "$(tagged_since "$seen")" ] && break; sleep 0.1; done
  line=$(tagged_since "$seen")
  [ -n "$line" ] || { tail -n +"$((seen + 1))" "$work/fake.log" >&2; die "$source: no tagged request reached the fake server"; }
  say "runs: $source: $outcome; the fake received: ${line%% error=*}"
done < "$work/blocks.tsv"
say "runs: $((SECONDS - step_start)) s"

say "done in $((SECONDS - start_all)) s"
