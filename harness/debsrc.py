"""Debian source packages (upstream tarballs of programs qfuzz tests, such as
HAProxy, libuv, liburcu), fetched through a private apt configuration.

    from harness import debsrc
    tarball = debsrc.fetch("haproxy", "3.0.11")        # .../haproxy_3.0.11.orig.tar.gz
    tree = debsrc.unpack(tarball)                       # .../haproxy-3.0.11/
    debsrc.versions("haproxy")                          # [SourceVersion(2.6.12-1+deb12u3, bookworm), ...]

The machine's apt sources usually list binary packages only.  This module
derives `deb-src` entries from them (the same URIs and keyrings as the entry
that serves the machine's own release, for the suites in SUITES) and keeps
its own source list, package lists and apt cache under the cache folder,
passing them to apt with -o Dir::Etc::sourcelist / sourceparts=/dev/null /
Dir::State::Lists / Dir::Cache, so nothing on the system changes and the
project never names a host.

`apt-get source --download-only` is used because it verifies every file
against the Sources index, and because, when the archive serves only part
of a source package (e.g. trixie's HAProxy 3.0.11: the .orig.tar.gz but
not the .dsc), it still leaves the files it could fetch: fetch() succeeds
whenever the upstream tarball arrived, whatever happened to the rest.

Cache layout (root: $QFUZZ_CACHE, else $XDG_CACHE_HOME/qfuzz, else
~/.cache/qfuzz):  debsrc/apt/ (private lists), debsrc/<package>/<files>,
debsrc/<package>/<package>-<upstream>/ (unpacked).  Concurrent callers
(pytest-xdist workers) are serialized with a lock file.  Every failure is a
QfuzzError of one line naming the package and version.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import QfuzzError

SUITES = ("bookworm", "trixie", "sid")
LISTS_MAX_AGE = 24 * 3600  # refresh the private package lists once a day
APT_TIMEOUT = 300
SYSTEM_SOURCES = Path("/etc/apt")
_TARBALL = re.compile(r"\.tar\.(gz|xz|bz2|lzma|zst)$")


@dataclass(frozen=True)
class SourceVersion:
    package: str
    version: str  # Debian version, e.g. 3.0.11-1+deb13u4
    files: tuple[str, ...]  # file names as in the Sources index

    @property
    def upstream(self) -> str:
        """The upstream version: no epoch, no Debian revision."""
        v = self.version.split(":", 1)[-1]
        return v.rsplit("-", 1)[0] if "-" in v else v

    @property
    def tarball(self) -> str:
        """The upstream tarball's file name (.orig.tar.* or, for a native
        package, its only .tar.*)."""
        orig = [f for f in self.files if ".orig.tar." in f and _TARBALL.search(f)]
        if orig:
            return orig[0]
        native = [f for f in self.files if _TARBALL.search(f) and ".debian.tar." not in f]
        if not native:
            raise QfuzzError(f"{self.package} {self.version}: no tarball in the Sources index")
        return native[0]


def cache_root() -> Path:
    if os.environ.get("QFUZZ_CACHE"):
        return Path(os.environ["QFUZZ_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qfuzz"


def _apt_dir() -> Path:
    return cache_root() / "debsrc" / "apt"


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    root = cache_root() / "debsrc"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- deriving deb-src entries from the machine's apt sources -------------

Entry = tuple[list[str], list[str], list[str], dict[str, str]]  # uris, suites, components, options


def _system_entries(etc: Path = SYSTEM_SOURCES) -> list[Entry]:
    """Every enabled `deb` entry, one-line and deb822 formats alike."""
    entries: list[Entry] = []
    files = [etc / "sources.list"] + sorted((etc / "sources.list.d").glob("*.list"))
    for f in files:
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)(.*)", line)
            if m:
                opts = dict(o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
                entries.append(([m.group(2)], [m.group(3)], m.group(4).split(), {k.lower(): v for k, v in opts.items()}))
    for f in sorted((etc / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            opts = {"signed-by": fields["signed-by"]} if fields.get("signed-by", "").startswith("/") else {}
            entries.append((fields.get("uris", "").split(), fields.get("suites", "").split(), fields.get("components", "").split(), opts))
    return entries


def _release_codename() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return ""
    m = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", text, re.M)
    return m.group(1) if m else ""


def derive_sources(etc: Path = SYSTEM_SOURCES, codename: str | None = None) -> str:
    """The private sources.list: deb-src lines for SUITES on the URIs of the
    machine's Debian archive entries: a suite that is the bare codename of
    the machine's release or of one of SUITES (not -security, -updates or a
    third party's own suite), component main, and no keyring or Debian's;
    the same signed-by keyring is kept."""
    codename = codename if codename is not None else _release_codename()
    known = {codename, *SUITES} - {""}
    lines: list[str] = []
    for uris, suites, components, opts in _system_entries(etc):
        if not known.intersection(suites) or "main" not in components:
            continue
        if "signed-by" in opts and "debian-archive" not in opts["signed-by"]:
            continue
        option = f"[signed-by={opts['signed-by']}] " if "signed-by" in opts else ""
        for uri in uris:
            for suite in SUITES:
                line = f"deb-src {option}{uri} {suite} main"
                if line not in lines:
                    lines.append(line)
    if not lines:
        raise QfuzzError("no Debian archive in this machine's apt sources (/etc/apt): cannot fetch source packages")
    return "\n".join(lines) + "\n"


def _apt_options() -> list[str]:
    d = _apt_dir()
    opts = [
        "-o", f"Dir::Etc::sourcelist={d / 'sources.list'}",
        "-o", "Dir::Etc::sourceparts=/dev/null",
        "-o", f"Dir::State::Lists={d / 'lists'}",
        "-o", f"Dir::Cache={d / 'cache'}",
    ]
    if os.geteuid() == 0:  # the cache folder is root's; apt's _apt user could not write there
        opts += ["-o", "APT::Sandbox::User=root"]
    return opts


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=APT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise QfuzzError(f"{argv[0]} {argv[-1]}: no answer within {APT_TIMEOUT} s") from None
    except OSError as exc:
        raise QfuzzError(f"cannot run {argv[0]}: {exc.strerror} (debsrc needs apt-get, a Debian system)") from None


def _last_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr + proc.stdout).strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("E:")]
    return (errors or lines or [f"exit status {proc.returncode}"])[-1]


def _fetch_error(proc: subprocess.CompletedProcess[str], name: str) -> str:
    """apt's reason for `name` (e.g. "404  Not Found"), without the URL."""
    quoted = name.replace("+", "%2b")
    for line in (proc.stderr + proc.stdout).splitlines():
        if line.startswith("E:") and (name in line or quoted in line):
            m = re.search(r"\s(\d{3}\s+[^\[]*)", line.split(quoted if quoted in line else name, 1)[1])
            return " ".join(m.group(1).split()) if m else line
    return _last_error(proc)


def _update(force: bool = False) -> None:
    d = _apt_dir()
    (d / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (d / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    wanted = derive_sources()
    src = d / "sources.list"
    stamp = d / "updated"
    fresh = stamp.is_file() and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE
    if not force and fresh and src.is_file() and src.read_text() == wanted:
        return
    tmp = src.with_suffix(".tmp")
    tmp.write_text(wanted)
    os.replace(tmp, src)
    proc = _run(["apt-get", *_apt_options(), "-q", "update"])
    # one suite may fail (a mirror without sid); none fetched is an error
    if not any((d / "lists").glob("*_Sources*")):
        raise QfuzzError(f"apt-get update of the source lists failed: {_last_error(proc)}")
    stamp.touch()


def _showsrc(package: str) -> list[SourceVersion]:
    proc = _run(["apt-cache", *_apt_options(), "showsrc", package])
    if proc.returncode != 0:
        return []
    found: list[SourceVersion] = []
    for stanza in re.split(r"\n(?=Package: )", proc.stdout):
        pkg = re.search(r"^Package: (\S+)", stanza, re.M)
        ver = re.search(r"^Version: (\S+)", stanza, re.M)
        files = re.search(r"^Files:\n((?: .*\n?)*)", stanza, re.M)
        if not (pkg and ver and files) or pkg.group(1) != package:
            continue
        names = tuple(line.split()[-1] for line in files.group(1).splitlines() if line.strip())
        sv = SourceVersion(package, ver.group(1), names)
        if sv not in found:
            found.append(sv)
    return found


def versions(package: str) -> list[SourceVersion]:
    """Every version of `package`'s source in the private lists (bookworm,
    trixie, sid), oldest suite first.  Listed does not mean served: the
    archive may answer 404 for some of its files."""
    _check_name(package)
    with _locked():
        _update()
        return _showsrc(package)


def _check_name(package: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", package):
        raise QfuzzError(f"{package!r}: not a Debian source package name")


def _pick(package: str, version: str | None, listed: list[SourceVersion]) -> SourceVersion:
    if not listed:
        raise QfuzzError(f"{package}: no such source package in {', '.join(SUITES)}")
    if version is None:
        return listed[0]
    for sv in listed:
        if version in (sv.version, sv.upstream):
            return sv
    known = ", ".join(sv.upstream for sv in listed)
    raise QfuzzError(f"{package} {version}: not in the Debian source lists (known: {known})")


def fetch(package: str, version: str | None = None) -> Path:
    """The path of `package`'s upstream tarball at `version` (upstream, e.g.
    "3.0.11", or Debian, e.g. "3.0.11-1+deb13u4"; None: the first listed,
    i.e. bookworm's), downloaded once and cached.  QfuzzError (one line) if
    the version is not listed or its tarball is not served."""
    _check_name(package)
    with _locked():
        dest = cache_root() / "debsrc" / package
        if version is not None:  # cached: no network, no apt
            for hit in sorted(dest.glob(f"{package}_{version.split(':')[-1].rsplit('-', 1)[0]}.orig.tar.*")):
                if _TARBALL.search(hit.name):
                    return hit
        _update()
        listed = _showsrc(package)
        if version is not None and not any(version in (sv.version, sv.upstream) for sv in listed):
            _update(force=True)  # stale lists: a new upload
            listed = _showsrc(package)
        sv = _pick(package, version, listed)
        target = dest / sv.tarball
        if target.is_file():
            return target
        dest.mkdir(parents=True, exist_ok=True)
        proc = _run(["apt-get", *_apt_options(), "-q", "source", "--download-only", f"{package}={sv.version}"], cwd=dest)
        if not target.is_file():  # a missing .dsc alone does not matter; the tarball does
            raise QfuzzError(f"{package} {sv.upstream}: tarball {sv.tarball} not served ({_fetch_error(proc, sv.tarball)})")
        return target


def unpack(tarball: Path, dest: Path | None = None) -> Path:
    """Unpack an upstream tarball (once) and return its top directory, by
    default next to the tarball.  Extraction is atomic (a temporary folder
    renamed into place) and refuses members outside the tree."""
    tarball = Path(tarball)
    parent = Path(dest) if dest is not None else tarball.parent
    stem = _TARBALL.sub("", tarball.name).replace(".orig", "").replace("_", "-", 1)
    tree = parent / stem
    if tree.is_dir():
        return tree
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{stem}.unpacking.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(tarball) as tf:
            tf.extractall(tmp, filter="data")
        tops = [p for p in tmp.iterdir()]
        top = tops[0] if len(tops) == 1 and tops[0].is_dir() else tmp
        try:
            os.rename(top, tree)
        except OSError:
            if not tree.is_dir():
                raise
    except (tarfile.TarError, OSError) as exc:
        raise QfuzzError(f"cannot unpack {tarball}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tree
