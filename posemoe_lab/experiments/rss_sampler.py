"""Run a command and sample its memory (RSS of it and its children) every second.

    .venv/bin/python -m posemoe_lab.experiments.rss_sampler LOG -- COMMAND ...

Writes the samples and the command's stderr to LOG; the last line gives the sampled peak and
the kernel's ``ru_maxrss`` (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time


def rss_tree_kb(pid: int) -> int:
    """Resident memory (kB) of ``pid`` and its direct children, from /proc."""
    pids = [pid]
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    pids += [int(p) for p in out.split()]
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[1] != "--":
        print("usage: rss_sampler.py LOG -- COMMAND ...", file=sys.stderr)
        return 2
    log_path, command = argv[0], argv[2:]
    t0 = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, bufsize=1)

        def relay() -> None:
            for line in proc.stderr:
                log.write(f"{time.time() - t0:8.1f} STDERR {line}")
                log.flush()

        threading.Thread(target=relay, daemon=True).start()
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = rss_tree_kb(proc.pid)
            peak = max(peak, rss)
            log.write(f"{time.time() - t0:8.1f} RSS_MB {rss / 1024:.0f}\n")
            log.flush()
            time.sleep(1)
        code = os.waitstatus_to_exitcode(status)
        log.write(f"exit {code} sampled_peak_MB {peak / 1024:.0f} "
                  f"ru_maxrss_MB {usage.ru_maxrss / 1024:.0f} wall {time.time() - t0:.1f}\n")
    print(f"peak {peak / 1024:.0f} MB (ru_maxrss {usage.ru_maxrss / 1024:.0f} MB), exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
