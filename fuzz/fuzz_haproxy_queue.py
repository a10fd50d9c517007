#!/usr/bin/env python3
"""libFuzzer entry point for haproxy_queue (atheris), as OSS-Fuzz and
ClusterFuzzLite run it:

    ./fuzz_haproxy_queue.py [-max_total_time=60 -jobs=2 ...] [CORPUS_DIR ...]
    ./fuzz_haproxy_queue.py crash-<sha1>          # replay one input

Variant: QFUZZ_VARIANT or --variant=NAME (default pre-fix); the other
--name=value settings are listed in harness/engines/atheris_engine.py.
A failing verdict is a crash (crash-* file, exit 77) and a JSON reproducer
in ./corpus/haproxy_queue/ (QFUZZ_CORPUS or --corpus=DIR).
"""
from harness.engines.atheris_engine import main

if __name__ == "__main__":
    main(target="haproxy_queue")
