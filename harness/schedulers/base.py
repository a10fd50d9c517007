"""The interface of a scheduling strategy on the Python side.  Each strategy
is one file here and one native/sched_<name>.c; the runner only calls
native_args(), so adding a strategy touches nothing else."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Scheduler:
    name: ClassVar[str] = ""
    kind: ClassVar[int] = -1  # enum qf_sched_kind in native/qf_sched.h

    def native_args(self, k_estimate: int) -> dict[str, Any]:
        """Keyword arguments for harness._native.run()."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        d = {"strategy": self.name, **asdict(self)}
        if isinstance(d.get("data"), bytes):
            d["data"] = d["data"].hex()
        return d
