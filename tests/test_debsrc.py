"""harness.debsrc: deb-src entries derived from the machine's apt sources,
the cache, and unpacking.  Offline (no apt, no network)."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from harness import debsrc
from harness.errors import QfuzzError


def _etc(tmp_path: Path, listing: str = "", sources: str = "") -> Path:
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list").write_text(listing)
    if sources:
        (etc / "sources.list.d" / "debian.sources").write_text(sources)
    return etc


DEB822 = """Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def test_deb_src_entries_come_from_the_release_archive_only(tmp_path: Path) -> None:
    etc = _etc(tmp_path, "deb [arch=amd64] https://vendor.example/apt bookworm stable\n", DEB822)
    lines = debsrc.derive_sources(etc, codename="bookworm").splitlines()
    key = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
    assert lines == [f"deb-src {key} http://mirror.example/debian {s} main" for s in ("bookworm", "trixie", "sid")]


def test_one_line_sources_and_no_archive(tmp_path: Path) -> None:
    etc = _etc(tmp_path, "# comment\ndeb http://m.example/debian bookworm main contrib\n")
    assert debsrc.derive_sources(etc, codename="bookworm").splitlines()[0] == "deb-src http://m.example/debian bookworm main"
    with pytest.raises(QfuzzError, match="no Debian archive"):
        debsrc.derive_sources(_etc(tmp_path / "x", "deb http://m.example/other nodistro main\n"), codename="bookworm")


def _tarball(path: Path, top: str, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_cached_tarball_needs_no_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QFUZZ_CACHE", str(tmp_path))
    monkeypatch.setattr(debsrc, "_run", lambda *a, **k: pytest.fail("apt must not run for a cached tarball"))
    tb = _tarball(tmp_path / "debsrc" / "demo" / "demo_1.2.3.orig.tar.gz", "demo-1.2.3", {"Makefile": b"all:\n"})
    assert debsrc.fetch("demo", "1.2.3") == tb
    tree = debsrc.unpack(tb)
    assert tree == tb.parent / "demo-1.2.3" and (tree / "Makefile").read_text() == "all:\n"
    assert debsrc.unpack(tb) == tree  # once


def test_unpack_refuses_members_outside_the_tree(tmp_path: Path) -> None:
    tb = _tarball(tmp_path / "evil_1.orig.tar.gz", "", {"../escape": b"x"})
    with pytest.raises(QfuzzError, match="cannot unpack"):
        debsrc.unpack(tb)
    assert not (tmp_path.parent / "escape").exists()


def test_bad_package_name_is_one_line() -> None:
    with pytest.raises(QfuzzError, match="not a Debian source package name"):
        debsrc.fetch("Bad Name")


def test_upstream_version_and_tarball_name() -> None:
    sv = debsrc.SourceVersion("liburcu", "1:0.15.2-2", ("liburcu_0.15.2-2.dsc", "liburcu_0.15.2.orig.tar.bz2.asc", "liburcu_0.15.2.orig.tar.bz2"))
    assert sv.upstream == "0.15.2" and sv.tarball == "liburcu_0.15.2.orig.tar.bz2"
