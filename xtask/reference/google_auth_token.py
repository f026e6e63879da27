"""Reference-client check: Python google-auth obtains tokens from the wif emulator.

Run by `cargo xtask reference`. It loads the credential configurations the emulator wrote
(`file.json`, `url.json`, `aws-lambda.json` with the env from `aws-lambda.env`,
`aws-ec2-imdsv2.json`) with google-auth's own loaders, calls `refresh()`, and asks the emulator's
tokeninfo whether the token is a live service-account token. If Google's reference library gets
accepted tokens, the emulator speaks the real protocol.

Usage: python google_auth_token.py CONFIG_DIR BASE_URL

Guards: every request google-auth makes must go to the emulator (a non-loopback URL fails the
run instead of reaching the internet), every request has a timeout, and no token is printed.
"""

import os
import sys
import time
import urllib.parse

import google.auth
import google.auth.transport.requests
import requests

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
EXPECTED_SERVICE_ACCOUNT = "wif-demo-writer@wif-demo.iam.gserviceaccount.com"
AWS_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


class LoopbackOnlyRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport, refusing anything but the emulator, with a timeout."""

    def __init__(self, base_url):
        super().__init__()
        self.base_host = urllib.parse.urlsplit(base_url).hostname
        self.calls = []

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        host = urllib.parse.urlsplit(url).hostname
        if host != self.base_host:
            raise RuntimeError(f"google-auth tried to reach {host!r} ({method} {url.split('?')[0]}), not the emulator")
        self.calls.append(f"{method} {urllib.parse.urlsplit(url).path}")
        return super().__call__(url, method=method, body=body, headers=headers, timeout=10, **kwargs)


def read_env_file(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export ") :]
            name, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1].replace("'\\''", "'")
            values[name.strip()] = value
    return values


def check_accepted(base_url, token):
    response = requests.get(
        f"{base_url}/_emulator/tokeninfo",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    if response.status_code != 200:
        raise RuntimeError(f"the emulator refused the token: HTTP {response.status_code} {response.text[:200]}")
    info = response.json()
    if info.get("kind") != "service_account" or info.get("principal") != EXPECTED_SERVICE_ACCOUNT:
        raise RuntimeError(f"unexpected token info {info}")
    return info


def run_case(name, config_dir, base_url, env, via_default=False):
    for var in AWS_VARS:
        os.environ.pop(var, None)
    os.environ.update(env)
    path = os.path.join(config_dir, name)
    request = LoopbackOnlyRequest(base_url)
    started = time.monotonic()
    if via_default:
        # Application Default Credentials; GOOGLE_CLOUD_PROJECT is set, so no project lookup.
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = path
        credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM], request=request)
    else:
        # No scopes at load time: with scopes, load_credentials_from_file would look the project
        # up at Cloud Resource Manager (a real Google host).
        credentials, project = google.auth.load_credentials_from_file(path, request=request)
        credentials = credentials.with_scopes([CLOUD_PLATFORM])
    credentials.refresh(request)
    elapsed = time.monotonic() - started
    if not credentials.token or credentials.expiry is None:
        raise RuntimeError("refresh() returned no token or no expiry")
    info = check_accepted(base_url, credentials.token)
    kind = type(credentials).__module__ + "." + type(credentials).__name__
    print(
        f"ok   {name:<22} {kind:<40} {elapsed * 1000:6.0f} ms  "
        f"expires in {info['expires_in']} s  calls: {', '.join(request.calls)}"
    )


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    config_dir, base_url = sys.argv[1], sys.argv[2].rstrip("/")
    os.environ["GOOGLE_CLOUD_PROJECT"] = "wif-demo"
    lambda_env = read_env_file(os.path.join(config_dir, "aws-lambda.env"))
    print(f"google-auth {google.auth.__version__} against {base_url}")
    cases = [
        ("file.json", {}, True),
        ("file.json", {}, False),
        ("url.json", {}, False),
        ("aws-lambda.json", lambda_env, False),
        ("aws-ec2-imdsv2.json", {}, False),
    ]
    failures = 0
    for name, env, via_default in cases:
        try:
            run_case(name, config_dir, base_url, env, via_default)
        except Exception as e:  # noqa: BLE001 - report every case, then fail
            failures += 1
            print(f"FAIL {name:<22} {type(e).__name__}: {str(e)[:500]}")
        finally:
            os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    if failures:
        print(f"{failures} of {len(cases)} reference checks failed")
        return 1
    print(f"all {len(cases)} reference checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
