#!/usr/bin/env bash
# Installs everything Silverback needs to build, test and benchmark, from Debian 12 packages only.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config git \
  libuv1-dev node-llhttp libssl-dev openssl libyaml-cpp-dev libfmt-dev libpcre2-dev \
  libgtest-dev libgmock-dev \
  clang clang-format libclang-rt-14-dev \
  abigail-tools \
  python3 curl wrk nginx-light procps >/dev/null
