#!/usr/bin/env bash
# deps.sh - install what guoziyun needs to build and test, on Debian 12, as root.
# Idempotent and quiet: apt runs only when a package is missing (checked with dpkg-query).
# The Python test clients (boto3, awscli) come from the machine's pyenv; PyPI is not
# reachable here, so this script only checks them and says what is missing.
set -euo pipefail

BUILD_PKGS=(build-essential pkg-config libuv1-dev node-llhttp libssl-dev libisal-dev
            libsqlite3-dev libcurl4-openssl-dev libexpat1-dev libcjson-dev)
TEST_PKGS=(rclone s3cmd nginx-light clang libclang-rt-14-dev chromium fonts-wqy-microhei valgrind)

# The web console is built with npm at build time (console/); Debian's nodejs/npm do, but a
# newer Node already on the machine is kept.
EXTRA_PKGS=()
if ! command -v npm >/dev/null 2>&1; then
    EXTRA_PKGS+=(nodejs npm)
fi

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${EXTRA_PKGS[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

problems=()
if ! command -v python3 >/dev/null 2>&1; then
    problems+=("python3 not found on PATH")
else
    for mod in boto3 botocore requests; do
        if ! python3 -c "import $mod" >/dev/null 2>&1; then
            problems+=("python3 ($(command -v python3)) cannot import $mod")
        fi
    done
fi
if ! command -v aws >/dev/null 2>&1; then
    problems+=("the aws CLI (awscli) is not on PATH")
fi

if [ "${#problems[@]}" -gt 0 ]; then
    echo "deps: missing test tools:" >&2
    for m in "${problems[@]}"; do
        echo "  - $m" >&2
    done
    echo "deps: these come from the machine's Python (pyenv: boto3, awscli, requests);" \
         "PyPI is not reachable, so they cannot be pip-installed here." >&2
    exit 1
fi
