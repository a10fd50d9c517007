"""Builds the native core and every C target under targets/ into harness._native.

A target is a folder targets/<name>/ holding C files that define
`const qf_target qf_target_<name>` (see native/qf.h and docs/targets.md).
"""
import glob
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def rel(*parts: str) -> str:
    return os.path.join(*parts)


def c_targets() -> list[str]:
    return sorted(
        name
        for name in os.listdir(rel("targets"))
        if glob.glob(rel("targets", name, "*.c"))
    )


targets = c_targets()
# native/rt: the runtime of unmodified programs (native/rt/README.md)
sources = sorted(glob.glob(rel("native", "*.c"))) + sorted(glob.glob(rel("native", "rt", "*.c")))
for name in targets:
    sources += sorted(glob.glob(rel("targets", name, "*.c")))

native = Extension(
    "harness._native",
    sources=sources,
    include_dirs=["native"] + [rel("targets", n) for n in targets],
    define_macros=[("QF_TARGET_LIST", " ".join(f"X({n})" for n in targets))],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-fno-strict-aliasing"],
    # -Bsymbolic: the runtime's calls into the core (qf_self, qf_rt_point...) bind
    # inside this object, not through the PLT (bench/bench_runtime.py)
    extra_link_args=["-pthread", "-ldl", "-Wl,-Bsymbolic"],
    depends=glob.glob(rel("native", "*.h")) + glob.glob(rel("native", "rt", "*.h")) + glob.glob(rel("targets", "*", "*.h")),
)

# The same targets built a second time against the free-running qf.h of
# native/stress/ (qfuzz stress; docs/stress.md).  Same flags, so the target
# objects both builds share are identical; -Bsymbolic keeps this module's qf_*
# calls on its own core whatever else is loaded.
stress = Extension(
    "harness._stress",
    sources=sorted(glob.glob(rel("native", "stress", "*.c")))
    + [src for name in targets for src in sorted(glob.glob(rel("targets", name, "*.c")))],
    include_dirs=native.include_dirs,
    define_macros=native.define_macros,
    extra_compile_args=native.extra_compile_args,
    extra_link_args=native.extra_link_args + ["-Wl,-Bsymbolic"],
    depends=native.depends + glob.glob(rel("native", "stress", "*.h")),
)

# harness/targets is a symlink to targets/, so the descriptors ship as harness.targets
setup(ext_modules=[native, stress])
