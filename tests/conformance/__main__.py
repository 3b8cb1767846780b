"""``python -m tests.conformance``: the Autobahn|Testsuite run (see :mod:`tests.conformance.runner`)."""

import sys

from tests.conformance.runner import main

sys.exit(main())
