"""fence_nova — the Nova side of fencing a compute host (fabric-style, after the power device).

``off`` first records the evacuation request durably (a permanent node
attribute that survives a full cluster restart and shows in ``crm_mon -A``);
failing that, fencing fails. Then it gives Nova at most ``nova_timeout``
seconds (3 by default) to force the host's nova-compute down and disable it
with instanceha's reason marker; if Nova or Keystone does not answer in that
time it still succeeds, since the power device in the same topology level
has already fenced the host, and the evacuator forces the host down itself
before evacuating. Fencing is a cluster action: while it is in flight the
cluster runs no new transition, so it never waits long for Nova.
``status`` is *off* while the host's evacuation is pending, so ``on``
succeeds once its evacuation has finished. ``on`` is declared automatic
(unfencing) as fence-agents' fabric devices do, but the configuration
``instanceha cib render`` writes does not set ``provides=unfencing``: the
evacuator returns a host whose nova-compute NovaCompute started again to
service in Nova, and cluster-wide unfencing would hold back every
resource of a controller that no device can unfence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import NoReturn

from instanceha.clock import Clock, SystemClock
from instanceha.cluster import ClusterError, EvacuationRequests, EvacuationState, NodeAttributes
from instanceha.cluster.attribute_names import NOVA_HOST_ATTRIBUTE
from instanceha.cluster.evacuation import record_fenced
from instanceha.deadline import DeadlineExceeded, call_with_deadline
from instanceha.fencing.agent import FenceAgentSpec, PlugUse
from instanceha.fencing.codes import ExitCode, FenceError
from instanceha.fencing.device import FenceDevice, FenceRequest, PowerState
from instanceha.fencing.run import FenceAgent
from instanceha.fencing.run import main as fence_main
from instanceha.manpages.fence import render_manpage
from instanceha.nova.hostmap import HostMapError
from instanceha.nova.model import OUR_DISABLED_REASON_PREFIX
from instanceha.nova.params import CREDENTIAL_PARAMS, HOSTMAP_PARAMS, cloud_config, host_map
from instanceha.spec import Param, Params, ParamSet, ParamType

__all__ = ["AGENT", "AGENT_NAME", "SPEC", "NovaFenceDevice", "main", "manpage"]

AGENT_NAME = "fence_nova"
_LOG = logging.getLogger("instanceha.fencing")

SPEC = FenceAgentSpec(
    name=AGENT_NAME,
    shortdesc="Records the evacuation of a fenced compute host and marks it down in Nova",
    longdesc=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    params=ParamSet((
        *CREDENTIAL_PARAMS,
        *HOSTMAP_PARAMS,
        Param("nova_timeout", "seconds for the Nova calls",
              "Deadline of force-down and disable; past it, fencing succeeds anyway once the "
              "request is recorded (the evacuator forces the host down itself).",
              type=ParamType.INTEGER, default=3, minimum=1, maximum=10),
    )),
    vendor_url="https://docs.openstack.org/nova/",
    fabric_fencing=True,
    plug=PlugUse.REQUIRED,
    password=False,
    seconds=frozenset({"nova_timeout"}),
)


class NovaFenceDevice(FenceDevice):
    """The "fabric" is the evacuation request; Nova is told on a best-effort deadline."""

    def __init__(self, params: Params, requests: EvacuationRequests | None = None,
                 attributes: NodeAttributes | None = None, *,
                 environ: Mapping[str, str] | None = None,
                 clock: Clock | None = None) -> None:
        self.params = params
        self.environ: Mapping[str, str] = environ if environ is not None else {}
        self.clock = clock or SystemClock()
        self.requests = requests
        self.attributes = attributes
        self._recorded: set[str] = set()  # plugs this invocation's off left pending

    def get_power(self, plug: str) -> PowerState:
        try:
            store = self.requests or EvacuationRequests()
            if not plug:
                # monitor (Pacemaker passes no target): the device works if the requests,
                # i.e. the CIB, can be read
                store.all()
                return PowerState.ON
            request = store.get(plug)
        except (ClusterError, ValueError) as error:
            raise FenceError(ExitCode.GENERIC_ERROR, f"cannot read the request: {error}") \
                from None
        if request is not None and request.state is not EvacuationState.DONE:
            return PowerState.OFF
        # done since this invocation's off recorded it pending: our fencing took effect and
        # the evacuator was quicker than the runtime's verification (a host without servers);
        # an on (reboot's second half) reads the request as it is again
        return PowerState.OFF if plug in self._recorded else PowerState.ON

    def set_power(self, plug: str, state: PowerState) -> None:
        if state is PowerState.ON:
            self._recorded.discard(plug)
            return  # a returning host needs nothing here: status turns on when it is evacuated
        try:
            if record_fenced(plug, self.requests):
                self._recorded.add(plug)
        except (ClusterError, ValueError) as error:
            raise FenceError(ExitCode.GENERIC_ERROR,
                             f"cannot record the evacuation request of {plug}: {error}") from None
        self._tell_nova(plug)

    def _tell_nova(self, node: str) -> None:
        from instanceha.nova.credentials import CredentialsError
        from instanceha.nova.model import NovaError

        timeout = float(self.params.integer("nova_timeout"))
        try:
            call_with_deadline(lambda: self._mark_down(node), timeout, "nova-mark-down")
        except DeadlineExceeded:
            _LOG.warning("Nova did not answer within %.0fs; the evacuator will retry", timeout)
        except (NovaError, CredentialsError, HostMapError, ClusterError) as error:
            _LOG.warning("Nova not told (%s); the evacuator will retry", error)

    def _mark_down(self, node: str) -> None:
        from instanceha.nova.client import NovaClient

        host = self.nova_host(node)
        nova = NovaClient(cloud_config(self.params, self.environ))
        nova.force_down(host)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock.time()))
        nova.disable(host, f"{OUR_DISABLED_REASON_PREFIX} fenced by {AGENT_NAME} at {stamp}")
        _LOG.info("%s forced down and disabled in Nova", host)

    def nova_host(self, node: str) -> str:
        """``node``'s Nova host by the same rules as the evacuator: host_map, then the name
        NovaCompute published (its nova_host parameter), then domain.

        :raises HostMapError: on a malformed map; ClusterError when the CIB cannot be read.
        """
        published = (self.attributes or NodeAttributes()).get(node, NOVA_HOST_ATTRIBUTE)
        return host_map(self.params, {node: published} if published else None).nova_host(node)


def connect(request: FenceRequest) -> NovaFenceDevice:
    """The device for one invocation (nothing is contacted yet)."""
    return NovaFenceDevice(request.params, environ=request.environ, clock=request.clock)


def validate(params: Params, environ: Mapping[str, str]) -> None:
    """The host mapping and the credentials (from the parameters or the runtime's
    environment) must make sense (nothing is contacted)."""
    from instanceha.nova.credentials import CredentialsError

    try:
        host_map(params)
        cloud_config(params, environ)
    except (HostMapError, CredentialsError) as error:
        raise FenceError(ExitCode.GENERIC_ERROR, str(error)) from None


AGENT = FenceAgent(SPEC, connect, validate_environ=validate)


def manpage() -> str:
    """The roff source of fence_nova(8)."""
    return render_manpage(SPEC)


def main() -> NoReturn:
    """Entry point of the fence/fence_nova shim."""
    fence_main(AGENT)
