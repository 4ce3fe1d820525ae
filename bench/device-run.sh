#!/usr/bin/env bash
# The GPU part of the benchmark, as ONE device call (see ../shared/device/README.md and bench/README.md):
#   here:   npm run build && ../shared/device/make-bundle.sh
#   device: run with carry [".device-bundle"], timeout_s 540, command: bash bench/device-run.sh
# It runs the engine alone (dist/bench/device.js) with WebGPU fp32 and fp16, then the CPU provider on
# every core in fp32 and q8, on a 20,000-text corpus; the log, the JSON report and nvidia-smi's view
# land in $OUT. Each configuration is capped so the whole call fits one device command.
set -uo pipefail
out=${OUT:-/tmp/device-out}
mkdir -p "$out"
source .device-bundle/unpack.sh > "$out/unpack.log" 2>&1 || { cat "$out/unpack.log"; exit 1; }
cd /opt/app || exit 1
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
cores=$(nproc)
texts=${DEVICE_BENCH_TEXTS:-20000}
run() { timeout "$1" node dist/bench/device.js --texts "$texts" --out "$out" --configs "$2" 2>&1 | grep -v '^\s*at ' | tee -a "$out/device-bench.log"; }
run 150 webgpu:fp32:1:32768:256
run 180 webgpu:fp16:1:32768:256,webgpu:fp16:2:32768:256
run 120 "cpu:fp32:${cores}:512:64,cpu:q8:${cores}:512:64"
echo "done; files in $out"
