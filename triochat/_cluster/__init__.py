"""Several triochat nodes serving one chat through Redis (``--redis URL``).

See ``docs/design.md`` ("Scale-out").  Nothing here is imported unless the
server is given a Redis URL; ``coredis`` (the ``redis`` extra) is imported
only then.
"""

from __future__ import annotations

from .link import ClusterError as ClusterError
from .log import ClusterLog as ClusterLog
from .node import Cluster as Cluster
from .node import open_cluster as open_cluster
