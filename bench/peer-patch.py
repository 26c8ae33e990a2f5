"""Minimal local patch of the peer exporter, glorpen-docker-exporter 1.0.0, for
the benchmark only. bench/run.sh runs it with the python of the peer's throwaway
venv (outside the repository); it edits the installed copy there, nowhere else.

The peer reads `GET /containers/{id}/stats?stream=false&one-shot=true` for every
listed container and indexes the answer without checks. For a container that is
listed but has no cgroup at that moment (restarting between two runs, or exited
since the list), the engine answers an empty sample (`"read": "0001-01-01T00:00:00Z"`,
no `online_cpus`, empty `memory_stats`): the peer raises KeyError and the whole
scrape becomes HTTP 500. The patch skips such a container, as the engine's own CLI
does. Idempotent; prints what it did.
"""
import importlib.util
import pathlib
import sys

MARK = "# dexpbench patch"
ANCHOR = "            ).json()\n"
ADDED = (
    '            if stats.get("read", "").startswith("0001-01-01"):  ' + MARK + "\n"
    "                continue  # no stats sample: the container has no cgroup now\n"
)

spec = importlib.util.find_spec("glorpen_docker_exporter")
if spec is None or not spec.submodule_search_locations:
    sys.exit("peer-patch: glorpen_docker_exporter is not installed in this interpreter")
path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "exporter.py"
src = path.read_text()
if MARK in src:
    print(f"peer-patch: {path} already patched")
    sys.exit(0)
if src.count(ANCHOR) != 1:
    sys.exit(f"peer-patch: anchor not found exactly once in {path}; unknown version?")
path.write_text(src.replace(ANCHOR, ANCHOR + ADDED))
print(f"peer-patch: patched {path}")
