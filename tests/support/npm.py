"""The official npm clients some tests run against AvsB (OIDC provider, OpenFeature providers, tsc).

`node_modules()` installs `tests/npm/package.json` from its lock file once per machine (`npm ci`,
guarded by a file lock so parallel pytest processes install once) and returns the folder. A test
that needs Node fails, not skips, when Node or the registry is missing: CI installs both.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

NPM_DIR = Path(__file__).resolve().parents[1] / "npm"


def _lock_digest() -> str:
    return hashlib.sha256((NPM_DIR / "package-lock.json").read_bytes()).hexdigest()


def node_modules() -> Path:
    """Return `tests/npm/node_modules`, running `npm ci` first when it is missing or stale."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("Node.js and npm are required for this test (.ci/run installs them)")
    target = NPM_DIR / "node_modules"
    stamp = target / ".avsb-lock-digest"
    with open(NPM_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        digest = _lock_digest()
        if not (stamp.exists() and stamp.read_text() == digest):
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NPM_DIR,
                check=True,
                timeout=600,
            )
            stamp.write_text(digest)
    return target


def node() -> str:
    """Path of the `node` binary."""
    path = shutil.which("node")
    if path is None:
        raise RuntimeError("Node.js is required for this test (.ci/run installs it)")
    return path
