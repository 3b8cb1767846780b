"""Exit 0 when a triochat server is ready for clients, 1 (with the reasons) when not."""

import sys
import urllib.error
import urllib.request


def check(url: str, timeout: float = 3.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            print(answer.read().decode().strip())  # "ready"
            return 0
    except urllib.error.HTTPError as exc:  # 503: one reason a line
        print(f"not ready ({exc.code}):", exc.read().decode().strip(), file=sys.stderr)
    except OSError as exc:  # refused, timed out: not serving at all
        print("no answer:", exc, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(check(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9723/readyz"))
