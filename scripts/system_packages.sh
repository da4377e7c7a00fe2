#!/usr/bin/env bash
# The system packages dstorch needs; the first step of `make dependencies`.
#
# Debian/Ubuntu: installs the missing ones with apt-get (as root directly, otherwise with
# sudo after saying what it installs). Without root or sudo it prints the one command to run
# and exits 1, before anything else is downloaded. Other systems get the list and a check of
# the tools. Everything present: one dpkg-query, nothing else.
#
# Usage: scripts/system_packages.sh [PACKAGE ...]   (default: the list below)
#        scripts/system_packages.sh --list          (print the list)
set -euo pipefail

PACKAGES=(
    # make itself, the venv (ensurepip) and certificates for the package index; Python's
    # headers because pip builds the kenlm module (a pinned dependency) from its source
    make git ca-certificates python3-venv python3-dev
    # audio preparation (every format sox reads) and the Opus codec for augmentation
    sox libsox-fmt-all opus-tools
    # KenLM (the scorer) builds from source: compiler, cmake, Boost, compression libraries;
    # the decoder's C kernel (make kernel) needs the C compiler too
    cmake build-essential libboost-program-options-dev libboost-system-dev
    libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev
    # text-to-speech engines and voices for the example and synthetic data
    espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
    # a word list for language-model text
    wamerican
)
# Commands that stand for the packages on systems without dpkg.
TOOLS=(make git python3 sox cmake cc c++ espeak-ng flite festival)

if [ "${1:-}" = --list ]; then printf '%s\n' "${PACKAGES[@]}"; exit 0; fi
if [ "$#" -gt 0 ]; then PACKAGES=("$@"); fi

debian_like() {
    [ -r /etc/os-release ] && command -v dpkg-query >/dev/null && command -v apt-get >/dev/null \
        && grep -Eqi '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release
}

if ! debian_like; then
    missing_tools=()
    for tool in "${TOOLS[@]}"; do command -v "$tool" >/dev/null || missing_tools+=("$tool"); done
    if [ "${#missing_tools[@]}" -eq 0 ]; then
        echo "System packages: not a Debian/Ubuntu system; the tools are there (${TOOLS[*]})."
        exit 0
    fi
    echo "error: not a Debian/Ubuntu system, so nothing was installed. Missing: ${missing_tools[*]}." >&2
    echo "Install your system's packages for: ${PACKAGES[*]} (Debian names), then run make dependencies again." >&2
    exit 1
fi

# dpkg-query prints installed packages as "name ii"; unknown names print nothing.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null \
    | awk '$2 == "ii" {print $1}' || true)
missing=()
for package in "${PACKAGES[@]}"; do
    grep -qxF "$package" <<<"$installed" || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "System packages: all ${#PACKAGES[@]} present."
    exit 0
fi

command_line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -eq 0 ]; then
    echo "Installing system packages: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
elif command -v sudo >/dev/null; then
    echo "Installing system packages with sudo: ${missing[*]}"
    if ! { sudo apt-get update -qq \
        && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
        echo "error: sudo could not install them; run as root: $command_line" >&2
        exit 1
    fi
else
    echo "error: missing system packages: ${missing[*]}; run as root: $command_line" >&2
    exit 1
fi
echo "System packages: installed ${missing[*]}."
