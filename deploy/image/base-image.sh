#!/usr/bin/env bash
# base-image.sh CACHE_DIR: makes the Dockerfile's base images locally when the engine has none,
# since no image registry is reachable here: `debian:12` and `debian:12-slim`, tagged with
# Docker Hub's full names (docker.io/library/...), so that `podman build --pull=never` resolves
# the Dockerfile's FROM lines to them. Run it under deploy/image/with-engine.
#
# Both come from one `debootstrap --variant=minbase bookworm` against the Debian mirror this
# machine's apt already uses; its tarball is kept in CACHE_DIR. The slim variant is what Docker
# Hub's debian:12-slim is: the same system without documentation, manual pages and
# translations, and dpkg told not to install them later (as /etc/dpkg/dpkg.cfg.d/docker there).
# Both have no package lists and no downloaded packages. They are made once: to refresh them
# (newer Debian point release), `podman rmi debian:12 debian:12-slim` and delete CACHE_DIR.
set -euo pipefail
cache=$1
full=docker.io/library/debian:12
slim=docker.io/library/debian:12-slim
if podman image exists "$full" && podman image exists "$slim"; then
  exit 0
fi
# The main archive's address: the first http(s) URI of the apt sources that is not the security
# archive (deb822 "URIs:" lines, or one-line "deb [options] URI suite" entries).
debian_mirror() {
  cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    awk '/^(URIs:|deb )/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\// && $i !~ /security/) {
           print $i; exit } }' || true
}
mkdir -p "$cache"
tarball=$cache/debian-12-minbase.tar
if [ ! -s "$tarball" ]; then
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || { echo "base-image.sh: no Debian mirror in /etc/apt" >&2; exit 1; }
  rootfs=$cache/rootfs
  # A debootstrap killed halfway leaves its proc and sys mounted in the tree.
  for mount in proc sys dev/pts dev; do umount -l "$rootfs/$mount" 2>/dev/null || true; done
  rm -rf --one-file-system "$rootfs"
  echo "base-image.sh: debootstrap bookworm from $mirror (log: $cache/debootstrap.log)" >&2
  if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    tail -20 "$cache/debootstrap.log" >&2
    exit 1
  fi
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  tar -C "$rootfs" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  rm -rf --one-file-system "$rootfs"
fi

podman import --change 'CMD ["bash"]' --message "debootstrap --variant=minbase bookworm" \
  "$tarball" "$full" >/dev/null

# The slim variant: a container from the full image that deletes what slim leaves out.
podman rm --force weft-base-slim >/dev/null 2>&1 || true
podman run --name weft-base-slim --network none "$full" sh -ec '
  cat > /etc/dpkg/dpkg.cfg.d/docker <<DPKG
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKG
  cat > /etc/apt/apt.conf.d/docker-clean <<APT
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT
  find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
  find /usr/share/doc -mindepth 1 -type d -empty -delete
  rm -rf /usr/share/man/* /usr/share/groff/* /usr/share/info/* /usr/share/lintian/* \
    /usr/share/linda/* /usr/share/locale/*'
podman export weft-base-slim | podman import --change 'CMD ["bash"]' \
  --message "debian:12 without documentation, manual pages and translations" - "$slim" >/dev/null
podman rm weft-base-slim >/dev/null
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep 'library/debian' >&2
