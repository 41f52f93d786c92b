#!/usr/bin/env bash
# Builds every ```csharp block of the README's "Quick start" section as the Program.cs of a new console app, against the
# package that .ci/run packed (artifacts/package), with warnings as errors. The apps live in a temporary folder outside
# the repository (no Directory.Build.props or central package versions reach them, as for a new user) with a NuGet.config
# of that package folder plus the normal source, and a package folder of their own, so a stale copy of the package in
# the machine's NuGet cache cannot stand in for the one just packed. Packages as the Quick start says to add them: the
# package just packed (its dependencies at the lowest versions its ranges allow, as NuGet resolves them), and
# Microsoft.Extensions.Hosting where the block uses it, at whatever version `dotnet add package` would take (floating *).
set -uo pipefail
cd "$(dirname "$0")/.."

package_dir=$(pwd)/artifacts/package
# MeaiMetadata.<version>.nupkg, not MeaiMetadata.AspNetCore.<version>.nupkg beside it.
nupkg=$(ls "$package_dir"/MeaiMetadata.[0-9]*.nupkg 2>/dev/null | grep -v '\.snupkg$' | head -n 1)
[ -n "$nupkg" ] || { echo "quickstart: no package in artifacts/package (run the pack step first)" >&2; exit 1; }
version=$(basename "$nupkg" .nupkg); version=${version#MeaiMetadata.}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/NuGet.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config><add key="globalPackagesFolder" value="$work/packages" /></config>
  <packageSources>
    <clear />
    <add key="packed" value="$package_dir" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
  </packageSources>
</configuration>
XML

# The csharp blocks between "## Quick start" and the next "## " heading, one file each.
n=$(awk -v dir="$work" '
  /^## / { in_section = ($0 == "## Quick start") }
  in_section && /^```csharp/ { block++; file = sprintf("%s/app%d/Program.cs", dir, block); system("mkdir -p " dir "/app" block); writing = 1; next }
  writing && /^```/ { writing = 0; close(file); next }
  writing { print > file }
  END { print block + 0 }' README.md)
[ "$n" -gt 0 ] || { echo "quickstart: no csharp block in the README's Quick start" >&2; exit 1; }

status=0
for ((i = 1; i <= n; i++)); do
  app=$work/app$i
  cat > "$app/QuickStart$i.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="MeaiMetadata" Version="$version" />
$(grep -q 'Microsoft.Extensions.Hosting' "$app/Program.cs" && echo '    <PackageReference Include="Microsoft.Extensions.Hosting" Version="*" />')
  </ItemGroup>
</Project>
XML
  start=$SECONDS
  if dotnet build "$app/QuickStart$i.csproj" -c Release -warnaserror --configfile "$work/NuGet.config" > "$app/build.log" 2>&1; then
    echo "quickstart: block $i of $n builds ($((SECONDS - start)) s)"
  else
    echo "quickstart: block $i of $n does NOT build:" >&2
    grep -E "error|warning" "$app/build.log" | sort -u | head -n 20 >&2
    sed 's/^/    | /' "$app/Program.cs" >&2
    status=1
  fi
done
exit $status
