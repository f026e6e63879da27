"""Python google-auth doing what `cargo xtask bench` asks of every client, against the wif emulator.

Usage:
    python google_auth_bench.py cold   CONFIG                   # first token, whole process
    python google_auth_bench.py cached CONFIG BATCHES CALLS     # ns per cached token check
    python google_auth_bench.py herd   CONFIG CALLERS           # CALLERS concurrent cold callers
    python google_auth_bench.py refresh CONFIG                  # first token, then one refresh()

CONFIG is an `external_account` file the emulator wrote; AWS variables, if any, come from this
process's environment (google-auth reads them there). One line goes to stdout, `ok key=value...`
or `error: ...`; a token is never printed.

Guards: every request must go to loopback (anything else fails the run instead of reaching the
internet), and every request has a 10 s timeout. The bench's real-network run names the hosts it
answers in WIF_BENCH_NETWORK_HOSTS; they are allowed only where the process's network has no
interface but loopback (the bench's private namespace), so they can never reach the real services.
"""

import os
import sys
import threading
import time
import urllib.parse

STARTED = time.perf_counter()

import google.auth  # noqa: E402 - the import is part of what a cold start costs
import google.auth.transport.requests  # noqa: E402

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def private_network_hosts():
    """The hosts of the bench's private network, when this process is in one."""
    names = os.environ.get("WIF_BENCH_NETWORK_HOSTS")
    if not names:
        return set()
    with open("/proc/net/dev") as f:
        interfaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    if any(name != "lo" for name in interfaces):
        raise RuntimeError("WIF_BENCH_NETWORK_HOSTS is honoured only in the bench's private network")
    return set(names.split(","))


ALLOWED_HOSTS = {"127.0.0.1", "localhost"} | private_network_hosts()


class LoopbackRequest(google.auth.transport.requests.Request):
    """google-auth's own requests transport (one session, keep-alive), loopback only."""

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        host = urllib.parse.urlsplit(url).hostname
        if host not in ALLOWED_HOSTS:
            raise RuntimeError(f"google-auth tried to reach {host!r}, not the emulator")
        return super().__call__(url, method=method, body=body, headers=headers, timeout=10, **kwargs)


def load(path, request):
    # No scopes at load time: with scopes, load_credentials_from_file would look the project up
    # at Cloud Resource Manager (a real Google host).
    credentials, _ = google.auth.load_credentials_from_file(path, request=request)
    return credentials.with_scopes([CLOUD_PLATFORM])


def cached_token(credentials, request):
    """What a caller does before each API call: refresh only if invalid, then read the token."""
    if not credentials.valid:
        credentials.refresh(request)
    return credentials.token


def cold(path):
    imported = time.perf_counter()
    request = LoopbackRequest()
    credentials = load(path, request)
    built = time.perf_counter()
    token = cached_token(credentials, request)
    done = time.perf_counter()
    if not token:
        raise RuntimeError("refresh() returned no token")
    return (
        f"import_us={int((imported - STARTED) * 1e6)} "
        f"build_us={int((built - imported) * 1e6)} token_us={int((done - built) * 1e6)}"
    )


def cached(path, batches, calls):
    request = LoopbackRequest()
    credentials = load(path, request)
    cached_token(credentials, request)
    samples = []
    for _ in range(batches):
        started = time.perf_counter_ns()
        for _ in range(calls):
            cached_token(credentials, request)
        samples.append((time.perf_counter_ns() - started) / calls)
    samples.sort()
    return f"median_ns={samples[len(samples) // 2]:.1f}"


def herd(path, callers):
    credentials = load(path, LoopbackRequest())
    gate = threading.Barrier(callers)
    served = []
    failures = []

    def caller():
        # Each caller has its own transport, as each thread of an application would.
        request = LoopbackRequest()
        gate.wait()
        try:
            cached_token(credentials, request)
            served.append(1)
        except Exception as e:  # noqa: BLE001 - count, report one
            failures.append(f"{type(e).__name__}: {str(e)[:200]}")

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    line = f"served={len(served)} elapsed_us={int(elapsed * 1e6)}"
    if failures:
        line += f" failed={len(failures)} first_failure={failures[0]!r}"
    return line


def refresh(path):
    """A cold token, then one more refresh() (google-auth refreshes only when asked)."""
    request = LoopbackRequest()
    credentials = load(path, request)
    cached_token(credentials, request)
    started = time.perf_counter()
    credentials.refresh(request)
    return f"refresh_us={int((time.perf_counter() - started) * 1e6)}"


def main():
    args = sys.argv[1:]
    try:
        if len(args) == 2 and args[0] == "cold":
            line = cold(args[1])
        elif len(args) == 4 and args[0] == "cached":
            line = cached(args[1], int(args[2]), int(args[3]))
        elif len(args) == 3 and args[0] == "herd":
            line = herd(args[1], int(args[2]))
        elif len(args) == 2 and args[0] == "refresh":
            line = refresh(args[1])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Exception as e:  # noqa: BLE001 - one line for the driver
        print(f"error: {type(e).__name__}: {str(e)[:300]}")
        return 1
    print(f"ok {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
