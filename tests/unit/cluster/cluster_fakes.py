"""A recording, scripted fake of :class:`instanceha.cluster.runner.Runner` and sample outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from instanceha.cluster.runner import RunResult

Handler = Callable[[list[str]], RunResult]


def result(argv: Sequence[str], rc: int = 0, stdout: str = "", stderr: str = "") -> RunResult:
    """A RunResult for ``argv``."""
    return RunResult(tuple(argv), rc, stdout, stderr)


@dataclass
class FakeRunner:
    """Answers each command from ``script``: (argv[0] or "argv[0] argv[1]") -> responses.

    Responses for one key are consumed in order; the last one repeats. Every
    call is recorded in ``calls`` with its timeout.
    """

    script: dict[str, list[tuple[int, str, str] | Handler]] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)

    def on(self, key: str, rc: int = 0, stdout: str = "", stderr: str = "") -> FakeRunner:
        """Queue a canned answer for commands matching ``key``."""
        self.script.setdefault(key, []).append((rc, stdout, stderr))
        return self

    def on_call(self, key: str, handler: Handler) -> FakeRunner:
        """Queue a computed answer for commands matching ``key``."""
        self.script.setdefault(key, []).append(handler)
        return self

    def run(self, argv: Sequence[str], *, timeout: float) -> RunResult:
        """Record and answer."""
        args = list(argv)
        self.calls.append(args)
        self.timeouts.append(timeout)
        for key in (" ".join(args[:2]), args[0]):
            queue = self.script.get(key)
            if queue:
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
                if callable(answer):
                    return answer(args)
                rc, out, err = answer
                return result(args, rc, out, err)
        raise AssertionError(f"unexpected command {args}")

    def tools(self) -> list[str]:
        """argv[0] of every call, in order."""
        return [c[0] for c in self.calls]


def pcmk_result(body: str, code: int = 0, message: str = "OK", errors: Sequence[str] = ()) -> str:
    """A ``<pacemaker-result>`` document as Pacemaker 2.1.5 prints it."""
    if errors:
        errs = "".join(f"<error>{e}</error>" for e in errors)
        status = f'<status code="{code}" message="{message}"><errors>{errs}</errors></status>'
    else:
        status = f'<status code="{code}" message="{message}"/>'
    return f'<pacemaker-result api-version="2.25" request="x">{body}{status}</pacemaker-result>'


# crm_mon --one-shot --output-as=xml --include=none --include=nodes (live lab, Pacemaker 2.1.5)
CRM_MON_NODES = pcmk_result(
    '<pacemakerd sys_from="pacemakerd" state="running" last_updated="2026-11-20 22:42:30Z"/>'
    "<nodes>"
    '<node name="comp1" id="comp1" online="true" standby="false" standby_onfail="false"'
    ' maintenance="false" pending="false" unclean="false" health="green" shutdown="false"'
    ' expected_up="false" is_dc="false" resources_running="0" type="remote"/>'
    '<node name="comp2" id="comp2" online="false" standby="false" standby_onfail="false"'
    ' maintenance="false" pending="false" unclean="true" health="green" shutdown="false"'
    ' expected_up="false" is_dc="false" resources_running="0" type="remote"/>'
    '<node name="ctl1" id="1" online="true" standby="false" standby_onfail="false"'
    ' maintenance="false" pending="false" unclean="false" health="green" feature_set="3.16.1"'
    ' shutdown="false" expected_up="true" is_dc="true" resources_running="4" type="member"/>'
    "</nodes>"
)

# cibadmin --query --scope nodes (live lab)
CIB_NODES = """<nodes>
  <node id="1" uname="ctl1">
    <instance_attributes id="nodes-1">
      <nvpair id="nodes-1-instanceha-evacuate" name="instanceha-evacuate" value="x"/>
    </instance_attributes>
  </node>
  <node type="remote" id="comp1" uname="comp1">
    <instance_attributes id="nodes-comp1">
      <nvpair id="nodes-comp1-other" name="other" value="1"/>
      <nvpair id="nodes-comp1-instanceha-evacuate" name="instanceha-evacuate"
              value="in-progress:ctl1:1795214466"/>
    </instance_attributes>
  </node>
  <node type="remote" id="comp3" uname="comp3"/>
</nodes>"""

# stonith_admin --history '*' --verbose --output-as=xml: the success line is from the live lab;
# failed and pending follow Pacemaker 2.1.5's stonith_event_xml()
FENCE_HISTORY = pcmk_result(
    '<list name="fencing history" count="3">'
    '<fence_event action="reboot" target="comp1" client="pacemaker-controld.14157" origin="ctl1"'
    ' status="success" delegate="ctl1" completed="2026-11-20 22:41:34Z"/>'
    '<fence_event action="off" target="comp2" client="stonith_admin.900" origin="ctl1"'
    ' status="failed" exit-reason="No route to BMC" delegate="ctl1"'
    ' completed="2026-11-20 22:40:00Z"/>'
    '<fence_event action="reboot" target="comp3" client="pacemaker-controld.14157" origin="ctl1"'
    ' status="pending" extended-status="1"/>'
    "</list>"
)
