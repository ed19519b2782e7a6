#!/usr/bin/env bash
# Bring the Godot 4 headless engine onto a Debian machine that does not package it.
#
# Debian unstable packages Godot 4 as `godot`; this script debootstraps a minimal unstable chroot and
# installs that package into it, with Xvfb and Mesa's software OpenGL (llvmpipe), so the engine can also
# render (`godot-gl`). The chroot is cached and reused: when it already exists and its engine answers
# `godot --headless --version` with 4.x, the script only adds the rendering packages if they are missing.
# Run the engine with the `godot-headless` (no rendering) or `godot-gl` (Xvfb + opengl3) wrapper beside
# this script.
#
# The mirror is the machine's own Debian archive, read from /etc/apt/sources.list and
# /etc/apt/sources.list.d/* (one-line and deb822 formats). Override it with STREAMDIT_DEBIAN_MIRROR.
#
# Environment:
#   STREAMDIT_CACHE          cache root (default: $HOME/.cache/streamdit)
#   GODOT_CHROOT             the chroot (default: $STREAMDIT_CACHE/godot-chroot)
#   STREAMDIT_DEBIAN_MIRROR  a Debian archive URI, instead of the one found in the apt sources
#
# Exit codes: 0 ready, 1 cannot build (the reason is the last line on stderr), 2 bad usage.
# Needs root (debootstrap, chroot and mount do) and about 700 MB of disk.
set -euo pipefail

readonly SUITE=unstable
readonly PACKAGE=godot
# Rendering without a GPU or a display: an X server in memory and Mesa's software OpenGL 4.x (llvmpipe).
readonly GL_PACKAGES=(xvfb xauth libgl1-mesa-dri libegl-mesa0)
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
readonly NO_VALID_UNTIL=(-o Acquire::Check-Valid-Until=false)

CACHE="${STREAMDIT_CACHE:-${HOME:-/root}/.cache/streamdit}"
CHROOT="${GODOT_CHROOT:-$CACHE/godot-chroot}"

say() { printf 'setup_godot: %s\n' "$*" >&2; }
die() { printf 'setup_godot: cannot build the Godot chroot: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    "") ;;
    *) usage; exit 2 ;;
esac

# Run a command inside the chroot, with /dev, /proc and /sys mounted in a private mount namespace:
# the mounts vanish with the command, even when it is killed.
in_chroot() {
    local root="$1"; shift
    unshare --mount --propagation private -- /bin/sh -euc '
        root="$1"; shift
        mount --rbind /dev "$root/dev"
        mount -t proc proc "$root/proc"
        mount --rbind /sys "$root/sys" 2>/dev/null || true
        exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
            PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
    ' in_chroot "$root" "$@"
}

# Print the engine's version when the chroot holds a working Godot 4; fail otherwise.
godot_version() {
    local root="$1" version
    [[ -x "$root/usr/bin/godot" ]] || return 1
    version="$(in_chroot "$root" godot --headless --version 2>/dev/null | tail -n 1)" || return 1
    [[ "$version" == 4.* ]] || return 1
    printf '%s\n' "$version"
}

# Print "URI SUITE" for every Debian suite of type deb in the machine's apt sources.
apt_source_entries() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r "$f" ]] || continue
        awk '
            function flush(   i, j, nu, ns, us, ss) {
                if (types ~ /(^| )deb( |$)/ && enabled !~ /^no$/) {
                    nu = split(uris, us, " "); ns = split(suites, ss, " ")
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print us[i], ss[j]
                }
                types = uris = suites = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "") }
            key == "types" { types = $0 } key == "uris" { uris = $0 }
            key == "suites" { suites = $0 } key == "enabled" { enabled = tolower($0) }
            END { flush() }
        ' "$f"
    done
}

# The machine's primary Debian archive: the source that serves a plain Debian release suite
# (not -updates, -security or -backports, and not a third-party repository).
find_mirror() {
    if [[ -n "${STREAMDIT_DEBIAN_MIRROR:-}" ]]; then
        printf '%s\n' "$STREAMDIT_DEBIAN_MIRROR"
        return 0
    fi
    local releases=" buster bullseye bookworm trixie forky duke sid stable testing unstable oldstable "
    local uri suite
    while read -r uri suite; do
        [[ "$releases" == *" $suite "* ]] || continue
        [[ "$uri" == http://* || "$uri" == https://* || "$uri" == file:/* ]] || continue
        printf '%s\n' "${uri%/}"
        return 0
    done < <(apt_source_entries)
    return 1
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && [[ -r "$KEYRING" ]] && return 0
    say "installing debootstrap on the host with apt-get"
    apt-get "${NO_VALID_UNTIL[@]}" update -qq >&2 || die "apt-get update failed on the host"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        debootstrap debian-archive-keyring >&2 || die "apt-get install debootstrap failed on the host"
}

# A chroot built before the rendering packages were part of it gets them in place (no rebuild).
ensure_gl() {
    local root="$1" log="$1.log"
    [[ -x "$root/usr/bin/xvfb-run" && -e "$root/usr/lib/x86_64-linux-gnu/dri/swrast_dri.so" ]] && return 0
    say "adding ${GL_PACKAGES[*]} to $root (log: $log)"
    in_chroot "$root" apt-get install -y --no-install-recommends "${GL_PACKAGES[@]}" >>"$log" 2>&1 && return 0
    in_chroot "$root" apt-get "${NO_VALID_UNTIL[@]}" update >>"$log" 2>&1 \
        && in_chroot "$root" apt-get install -y --no-install-recommends "${GL_PACKAGES[@]}" >>"$log" 2>&1 \
        || die "apt-get install ${GL_PACKAGES[*]} failed in the chroot; see $log"
    in_chroot "$root" apt-get clean >>"$log" 2>&1 || true
}

# Refuse to delete a directory that something is still mounted under.
remove_tree() {
    local dir="$1"
    [[ -e "$dir" ]] || return 0
    if awk -v d="$dir/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        die "something is still mounted under $dir; unmount it (see /proc/mounts) and run again"
    fi
    rm -rf --one-file-system -- "$dir"
}

build() {
    local mirror="$1" partial="$CHROOT.partial" log="$CHROOT.log" version
    remove_tree "$partial"
    mkdir -p "$partial"
    # A failed build leaves no half-made chroot behind (only its log).
    trap 'rm -rf --one-file-system -- "$partial"' EXIT
    : >"$log"
    say "debootstrap $SUITE from $mirror into $partial (log: $log)"
    local https_include=()
    [[ "$mirror" == https://* ]] && https_include=(--include=ca-certificates)
    # debootstrap mounts /proc and /sys in the target; a private namespace keeps them off the host.
    unshare --mount --propagation private -- debootstrap --variant=minbase --components=main \
        --keyring="$KEYRING" "${https_include[@]}" "$SUITE" "$partial" "$mirror" >>"$log" 2>&1 \
        || die "debootstrap failed; last lines of $log: $(tail -n 3 "$log" | tr '\n' ' ')"

    # Unstable's Release file may be past its Valid-Until date (a snapshot mirror): accept it.
    printf 'Acquire::Check-Valid-Until "false";\n' >"$partial/etc/apt/apt.conf.d/99streamdit"
    printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$partial/etc/apt/sources.list"

    say "apt-get install $PACKAGE in the chroot"
    in_chroot "$partial" apt-get "${NO_VALID_UNTIL[@]}" update >>"$log" 2>&1 \
        || die "apt-get update failed in the chroot; see $log"
    in_chroot "$partial" apt-get install -y --no-install-recommends "$PACKAGE" "${GL_PACKAGES[@]}" >>"$log" 2>&1 \
        || die "apt-get install $PACKAGE failed in the chroot; last lines of $log: $(tail -n 3 "$log" | tr '\n' ' ')"
    in_chroot "$partial" apt-get clean >>"$log" 2>&1 || true

    version="$(godot_version "$partial")" \
        || die "the $PACKAGE package of $SUITE does not run as a Godot 4 headless engine; see $log"
    remove_tree "$CHROOT"
    mv -- "$partial" "$CHROOT"
    trap - EXIT
    say "ready: Godot $version in $CHROOT"
}

main() {
    [[ "$(uname -s)" == Linux ]] || die "needs Linux (debootstrap and chroot); found $(uname -s)"
    [[ "$(id -u)" == 0 ]] || die "needs root (debootstrap, chroot and mount); run it with sudo"
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is missing"
    unshare --mount --propagation private true 2>/dev/null \
        || die "cannot create a mount namespace (unshare --mount); a container needs CAP_SYS_ADMIN"
    mkdir -p "$(dirname "$CHROOT")"

    # One build at a time: concurrent callers (several test runs) wait for the first.
    exec 9>"$CHROOT.lock"
    flock 9

    local version
    if version="$(godot_version "$CHROOT")"; then
        ensure_gl "$CHROOT"
        say "ready: Godot $version in $CHROOT (cached)"
        return 0
    fi
    [[ -e "$CHROOT" ]] && say "$CHROOT exists but holds no working Godot 4; rebuilding it"

    local mirror
    mirror="$(find_mirror)" \
        || die "no Debian archive in /etc/apt/sources.list{,.d}; set STREAMDIT_DEBIAN_MIRROR to one"
    ensure_debootstrap
    build "$mirror"
}

main
