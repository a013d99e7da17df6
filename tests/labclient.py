"""A test client that plays JupyterLab's part of the carto_auth bridge over jupyter_client.

It reads the kernel's iopub, stdin and shell channels in one loop, records what
the kernel says on the ``carto_auth`` comm, and answers as the lab would: comm
messages on the shell channel, unsolicited ``input_reply`` on the stdin channel.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from jupyterlab_carto_auth import protocol

#: Cell code defining ``api_status(token)``: the sandbox API's answer to a query
#: (format with ``base``, the API base URL).
API_CHECK = """
import urllib.request, urllib.error
def api_status(token):
    request = urllib.request.Request(
        {base!r} + "/v3/sql/carto_dw/query?q=select+1",
        headers={{"Authorization": "Bearer " + token}},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
"""

ATTACH_CODE = (
    "import jupyterlab_carto_auth.kernel as _carto_auth_kernel\n"
    "_carto_auth_kernel.attach()\n"
    "del _carto_auth_kernel"
)


def session_message(
    token: str | None,
    expires_at: float | None = None,
    *,
    reason: str = "attach",
    api_base_url: str | None = None,
    email: str = "analyst@example.com",
    name: str = "Sandbox Analyst",
    org: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A valid ``session`` message: signed in with ``token``, or signed out if ``None``."""
    if token is None:
        message: dict[str, Any] = {
            "v": 1,
            "type": "session",
            "state": "signed_out",
            "reason": reason,
        }
    else:
        message = {
            "v": 1,
            "type": "session",
            "state": "signed_in",
            "access_token": token,
            "expires_at": expires_at if expires_at is not None else time.time() + 3600,
            "api_base_url": api_base_url,
            "user": {"email": email, "name": name, "org": org},
            "reason": reason,
        }
    if id is not None:
        message["id"] = id
    return protocol.parse_message(message, "lab_to_kernel")


@dataclass
class Cell:
    msg_id: str
    stdout: str = ""
    stderr: str = ""
    error: dict[str, Any] | None = None
    data: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    input_requests: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def text(self) -> str:
        parts = [self.stdout, self.stderr, json.dumps(self.data)]
        if self.error:
            parts += [self.error["ename"], self.error["evalue"], *self.error["traceback"]]
        return "\n".join(parts)


Handler = Callable[["LabClient", dict[str, Any]], None]


class LabClient:
    """Plays the lab for one kernel client ``kc``."""

    def __init__(self, kc: Any):
        self.kc = kc
        self.comm_id: str | None = None
        self.hello: dict[str, Any] | None = None
        self.opens: list[dict[str, Any]] = []  # every carto_auth comm_open content
        self.closes: list[str] = []
        self.from_kernel: list[dict[str, Any]] = []  # every comm_msg data on our comm
        self.answers: dict[str, list[Any]] = {}  # comm_msg data by the msg_id it answers
        self.on_request: Handler | None = None
        self.on_input: Handler | None = None
        self.on_open: Callable[[LabClient], None] | None = None
        self.stray_input_requests: list[dict[str, Any]] = []
        self._cells: dict[str, Cell] = {}
        self._poller = zmq.Poller()
        for channel in (kc.iopub_channel, kc.stdin_channel, kc.shell_channel):
            self._poller.register(channel.socket, zmq.POLLIN)

    # --- sending, as the lab does ------------------------------------------------------

    def push(self, data: Any) -> str:
        """A comm_msg to the kernel's carto_auth comm (any JSON data); returns its msg_id."""
        assert self.comm_id, "not attached"
        msg = self.kc.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data})
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def answer_stdin(self, request_id: str, message: dict[str, Any]) -> None:
        """The unsolicited input_reply the lab sends for ``reply_via: "stdin"``."""
        self.send_input_reply(protocol.stdin_reply_value(request_id, message))

    def send_input_reply(self, value: str) -> None:
        self.kc.stdin_channel.send(
            self.kc.session.msg("input_reply", {"status": "ok", "value": value})
        )

    # --- running cells -----------------------------------------------------------------

    def attach(self, session: dict[str, Any] | None = None, timeout: float = 30) -> Cell:
        """Run the lab's attach code silently; answer the hello with ``session`` if given."""
        if session is not None:
            self.on_open = lambda lab: lab.push(session)
        cell = self.run(ATTACH_CODE, silent=True, allow_stdin=False, timeout=timeout)
        assert cell.error is None, cell.error
        assert self.comm_id is not None, "the attach code opened no carto_auth comm"
        return cell

    def execute(self, code: str, *, allow_stdin: bool = True, silent: bool = False) -> Cell:
        msg_id = self.kc.execute(code, silent=silent, store_history=False, allow_stdin=allow_stdin)
        cell = Cell(msg_id=msg_id)
        self._cells[msg_id] = cell
        return cell

    def wait(self, cell: Cell, timeout: float = 30) -> Cell:
        start = time.monotonic()
        deadline = start + timeout
        idle = False
        while not (idle and cell.reply is not None):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish within {timeout} s")
            idle = self._pump_once(min(remaining, 0.1), cell) or idle
        cell.seconds = time.monotonic() - start
        return cell

    def run(
        self, code: str, *, allow_stdin: bool = True, silent: bool = False, timeout: float = 30
    ) -> Cell:
        return self.wait(self.execute(code, allow_stdin=allow_stdin, silent=silent), timeout)

    def pump(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Handle messages for ``seconds`` (or until ``until()`` is true)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until is not None and until():
                return
            self._pump_once(min(0.05, max(deadline - time.monotonic(), 0)), None)

    # --- the loop ----------------------------------------------------------------------

    def _pump_once(self, timeout: float, waiting: Cell | None) -> bool:
        """Handle what is ready within ``timeout`` s; True if ``waiting`` went idle."""
        idle = False
        events = dict(self._poller.poll(int(timeout * 1000)))
        kc = self.kc
        if kc.iopub_channel.socket in events:
            while kc.iopub_channel.msg_ready():
                idle = self._iopub(kc.iopub_channel.get_msg(timeout=1), waiting) or idle
        if kc.stdin_channel.socket in events:
            while kc.stdin_channel.msg_ready():
                self._stdin(kc.stdin_channel.get_msg(timeout=1))
        if kc.shell_channel.socket in events:
            while kc.shell_channel.msg_ready():
                msg = kc.shell_channel.get_msg(timeout=1)
                cell = self._cells.get(msg["parent_header"].get("msg_id"))
                if cell is not None:
                    cell.reply = msg["content"]
        return idle

    def _iopub(self, msg: dict[str, Any], waiting: Cell | None) -> bool:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_open" and content.get("target_name") == protocol.TARGET:
            self.opens.append(content)
            self.comm_id = content["comm_id"]
            self.hello = content["data"]
            if self.on_open is not None:
                self.on_open(self)
            return False
        if kind == "comm_close":
            self.closes.append(content["comm_id"])
            if content["comm_id"] == self.comm_id:
                self.comm_id = None
            return False
        if kind == "comm_msg" and content.get("comm_id") == self.comm_id:
            data = content["data"]
            self.from_kernel.append(data)
            parent_id = msg["parent_header"].get("msg_id")
            if parent_id:
                self.answers.setdefault(parent_id, []).append(data)
            cell = self._cells.get(msg["parent_header"].get("msg_id"))
            if isinstance(data, dict) and data.get("type") == "request":
                if cell is not None:
                    cell.requests.append(data)
                if self.on_request is not None:
                    self.on_request(self, data)
            return False
        cell = self._cells.get(msg["parent_header"].get("msg_id"))
        if cell is None:
            return False
        if kind == "stream":
            if content["name"] == "stdout":
                cell.stdout += content["text"]
            else:
                cell.stderr += content["text"]
        elif kind == "error":
            cell.error = {k: content[k] for k in ("ename", "evalue", "traceback")}
        elif kind in ("execute_result", "display_data"):
            cell.data.append(content["data"])
        elif kind == "status" and content["execution_state"] == "idle":
            return cell is waiting
        return False

    def _stdin(self, msg: dict[str, Any]) -> None:
        if msg["msg_type"] != "input_request":
            return
        cell = self._cells.get(msg["parent_header"].get("msg_id"))
        if cell is not None:
            cell.input_requests.append(msg["content"])
        else:
            self.stray_input_requests.append(msg["content"])
        if self.on_input is not None:
            self.on_input(self, msg["content"])
