#!/bin/bash -eu
# Build every atheris entry point under fuzz/ the way OSS-Fuzz expects:
# install the package (the native core is compiled here by the image's
# compiler), then package each script with compile_python_fuzzer.  libFuzzer
# grows its own corpus of raw inputs; the JSON reproducers the entry points
# also write are merged back with `qfuzz merge` (docs/scaling.md).
pip3 install .
for fuzzer in fuzz/fuzz_*.py; do
  compile_python_fuzzer "$fuzzer"
done
