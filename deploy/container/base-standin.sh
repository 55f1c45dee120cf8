#!/usr/bin/env bash
# A local stand-in for python:3.11-slim-bookworm, for machines that cannot pull from a
# registry: Debian 12 minbase from the machine's own apt mirror, with python3.11, venv and pip,
# /usr/local/bin/python, and no EXTERNALLY-MANAGED marker, imported into podman. Built once and
# kept (podman's image store is the cache); `podman rmi` the image to rebuild it.
#
#   deploy/container/base-standin.sh [IMAGE]     (default localhost/groupie-base:py3.11-bookworm)
set -euo pipefail

image=${1:-localhost/groupie-base:py3.11-bookworm}
if podman image exists "$image"; then
  echo "   $image: cached"
  exit 0
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install $tool)" >&2; exit 1; }
done

# The mirror this machine's apt uses (deb822 or one-line sources), unless DEBIAN_MIRROR says.
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" && $2 !~ /security/ && $2 !~ /^\[/ { print $2; exit }' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "no Debian mirror found in apt's sources; set DEBIAN_MIRROR" >&2; exit 1; }

root=$(mktemp -d /var/tmp/groupie-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "   debootstrap bookworm (minbase) from the machine's apt mirror into $root"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$image" >/dev/null
echo "   $image: built"
