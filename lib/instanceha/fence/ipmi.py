"""fence_ipmi: power fencing through a BMC over IPMI 2.0 (lanplus), without ipmitool.

The BMC is driven in process (:mod:`instanceha.ipmi`, pyghmi underneath): the
password never appears on a command line, every login and command has a
deadline of ours, and power changes are verified by polling the chassis
status (the fence runtime does that). One device controls one host, so the
stonith resource needs ``pcmk_host_list``; ``plug``/``port`` are accepted and
ignored.
"""

from __future__ import annotations

from typing import NoReturn

from instanceha.fencing import (
    ExitCode,
    FenceAgent,
    FenceAgentSpec,
    FenceDevice,
    FenceError,
    FenceRequest,
    PowerState,
    UsageError,
    stdparams,
)
from instanceha.fencing import main as fence_main
from instanceha.ipmi import (
    BmcTarget,
    ChassisControl,
    IpmiAuthError,
    IpmiClient,
    IpmiError,
    IpmiPrivilegeError,
    IpmiSessionLost,
    IpmiTimeout,
    IpmiUnreachable,
    Privilege,
)
from instanceha.ipmi.target import MAX_PASSWORD_BYTES, MAX_USERNAME_BYTES
from instanceha.spec import Param, ParamError, Params, ParamSet, ParamType

__all__ = ["AGENT", "AGENT_NAME", "SPEC", "IpmiDevice", "connect", "main", "manpage", "validate"]

AGENT_NAME = "fence_ipmi"

SPEC = FenceAgentSpec(
    name=AGENT_NAME,
    shortdesc="Fence agent for IPMI 2.0 (lanplus) BMCs, without ipmitool",
    longdesc=(
        "fence_ipmi powers a host off, on or through a reboot by talking IPMI 2.0 "
        "(RMCP+, \"lanplus\") to its baseboard management controller in process, and "
        "verifies every power change by polling the chassis status until power_timeout. "
        "The password is never passed to another program; prefer password_script over a "
        "password stored in the CIB. The device controls exactly one host: set "
        "pcmk_host_list on the stonith resource (plug/port are ignored)."
    ),
    params=ParamSet((
        stdparams.IP,
        stdparams.ipport(623),
        stdparams.USERNAME,
        Param(
            "privlvl",
            "Privilege level on IPMI device",
            "Privilege level requested at login; chassis control needs operator or "
            "administrator.",
            type=ParamType.SELECT,
            choices=tuple(p.name.lower() for p in Privilege),
            default="administrator",
            getopt="L",
        ),
        Param(
            "cipher",
            "Ciphersuite to use (same as ipmitool -C parameter)",
            "3 (HMAC-SHA1, AES-128) or 17 (HMAC-SHA256, AES-128). Unset: propose 17 and "
            "fall back to 3.",
            type=ParamType.SELECT,
            choices=("3", "17"),
            getopt="C",
        ),
    )),
    cycle=True,
    # pyghmi re-sends lost login packets only after 0.5-3 s: on a lossy link a login
    # needs a few seconds (a dead BMC still fails after about 5 s, when pyghmi gives up)
    defaults={"login_timeout": 10},
)

# Error class -> exit code; timeouts and lost sessions are transient (verification polls on).
_CODES: tuple[tuple[type[IpmiError], ExitCode], ...] = (
    (IpmiAuthError, ExitCode.LOGIN_DENIED),
    (IpmiPrivilegeError, ExitCode.INVALID_PRIVILEGES),
    (IpmiUnreachable, ExitCode.TIMED_OUT),
    (IpmiTimeout, ExitCode.TIMED_OUT),
    (IpmiSessionLost, ExitCode.CONNECTION_LOST),
)


def _fence_error(error: IpmiError, default: ExitCode = ExitCode.GENERIC_ERROR) -> FenceError:
    for kind, code in _CODES:
        if isinstance(error, kind):
            return FenceError(code, str(error))
    return FenceError(default, str(error), transient=False)


class IpmiDevice(FenceDevice):
    """Chassis power of the one host behind a BMC."""

    def __init__(self, client: IpmiClient) -> None:
        self.client = client

    def get_power(self, plug: str) -> PowerState:
        try:
            return PowerState.ON if self.client.power_is_on() else PowerState.OFF
        except IpmiError as error:
            raise _fence_error(error, ExitCode.STATUS) from None

    def set_power(self, plug: str, state: PowerState) -> None:
        operation = ChassisControl.POWER_ON if state is PowerState.ON else ChassisControl.POWER_OFF
        try:
            self.client.chassis_control(operation)
        except IpmiError as error:
            raise _fence_error(error) from None

    def cycle(self, plug: str) -> None:
        try:
            self.client.chassis_control(ChassisControl.POWER_CYCLE)
        except IpmiError as error:
            raise _fence_error(error) from None

    def close(self) -> None:
        self.client.close()


def _target(params: Params, password: str) -> BmcTarget:
    cipher = params.text("cipher")
    return BmcTarget(
        host=params.text("ip").strip(),
        port=params.integer("ipport"),
        username=params.text("username"),
        password=password,
        privilege=Privilege.from_name(params.text("privlvl")),
        cipher=int(cipher) if cipher else None,
    )


def validate(params: Params) -> None:
    """Checks the parameter table cannot express (IPMI length limits, empty address)."""
    if not params.text("ip").strip():
        raise ParamError("ip", "is empty")
    if len(params.text("username").encode("utf-8")) > MAX_USERNAME_BYTES:
        raise ParamError("username", f"has more than {MAX_USERNAME_BYTES} bytes (IPMI limit)")
    if len(params.text("password").encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ParamError("password", f"has more than {MAX_PASSWORD_BYTES} bytes (IPMI limit)")


def connect(request: FenceRequest) -> IpmiDevice:
    """Log in to the BMC named by the request."""
    params = request.params
    try:
        target = _target(params, request.password or "")
    except ValueError as bad:  # a password_script answer beyond the IPMI limits
        raise UsageError(str(bad)) from None
    client = IpmiClient(target, login_timeout=float(params.integer("login_timeout")),
                        command_timeout=float(params.integer("shell_timeout")))
    try:
        client.open()
    except IpmiError as error:
        raise _fence_error(error) from None
    return IpmiDevice(client)


AGENT = FenceAgent(SPEC, connect, validate)


def manpage() -> str:
    """The roff source of fence_ipmi(8)."""
    from instanceha.manpages.fence import render_manpage

    return render_manpage(SPEC)


def main() -> NoReturn:
    """Entry point of the fence_ipmi shim."""
    fence_main(AGENT)
