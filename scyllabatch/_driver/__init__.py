"""Everything that touches the driver's API, shared by both facades.

The rest of the package reaches the driver only through this package, in four parts:

- :mod:`.connection`: the cluster, the session and the SDK's execution profile;
- :mod:`.options`: a call's ``timeout=`` / ``consistency=`` / ``serial_consistency=``;
- :mod:`.transport`: statements prepared once per session, and requests sent with them;
- :mod:`.outcomes`: driver responses and exceptions, as the engine sees them.
"""

from scyllabatch._driver.connection import (
    NO_DRIVER_RETRIES,
    PROFILE,
    SOCKET_OPTIONS,
    _auth_provider,
    attach_profile,
    cluster_port,
    connect,
    consistency_level,
    contact_point,
    contact_points,
    default_cluster,
    execution_profile,
    read_schema,
)
from scyllabatch._driver.options import DEFAULT_CALL, CallOptions, call_options, serial_level
from scyllabatch._driver.outcomes import (
    callback_outcome,
    classify,
    complete_once,
    failure,
    protocol_code,
    request_end,
)
from scyllabatch._driver.transport import (
    ReplicaGroups,
    SessionTransport,
    Statements,
    _EncodedBatchMessage,
    encoded_messages_supported,
)

__all__ = [
    "DEFAULT_CALL",
    "NO_DRIVER_RETRIES",
    "PROFILE",
    "SOCKET_OPTIONS",
    "CallOptions",
    "ReplicaGroups",
    "SessionTransport",
    "Statements",
    "_EncodedBatchMessage",
    "_auth_provider",
    "attach_profile",
    "call_options",
    "callback_outcome",
    "classify",
    "cluster_port",
    "complete_once",
    "connect",
    "consistency_level",
    "contact_point",
    "contact_points",
    "default_cluster",
    "encoded_messages_supported",
    "execution_profile",
    "failure",
    "protocol_code",
    "read_schema",
    "request_end",
    "serial_level",
]
