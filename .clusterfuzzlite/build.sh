#!/bin/bash -eu
# Build every atheris entry point under fuzz/ the way OSS-Fuzz expects:
# install the package (the native core is compiled here by the image's
# compiler), then package each script with compile_python_fuzzer (PyInstaller
# --onefile; the arguments after the script go to PyInstaller).  libFuzzer
# grows its own corpus of raw inputs; the JSON reproducers the entry points
# also write are merged back with `qfuzz merge` (docs/scaling.md).
#
# harness.targets imports each target's descriptor by name at run time
# (importlib), which PyInstaller's import analysis cannot see: every module
# under harness.targets is collected explicitly, or the fuzzer dies with
# ModuleNotFoundError: harness.targets.haproxy_queue.  tests/test_clusterfuzzlite.py
# runs this script and the fuzzers it builds.
#
# ClusterFuzzLite runs the fuzzers without qfuzz's settings, and a crash is a
# bug it files: the target fuzzers default to the variant that must stay clean
# (coarse; QFUZZ_VARIANT still chooses another), not to pre-fix, whose seed bug
# every run would find again in its first second.
pip3 install .
for fuzzer in fuzz/fuzz_*.py; do
  compile_python_fuzzer "$fuzzer" --collect-submodules harness.targets
  name=$(basename -s .py "$fuzzer")
  sed -i '2i export QFUZZ_VARIANT="${QFUZZ_VARIANT:-coarse}"' "$OUT/$name"
done
