"""The command executor: an allow-listed argv per action (settings.RUNBOOK_COMMANDS), run without a shell.

RUNBOOK_COMMANDS maps an action name to an argv template; "facts" is the command that prints the
cluster's members. The placeholders {action}, {node}, {key}, {component} and {params} (JSON) are
replaced inside single arguments, never split or handed to a shell, so a node name cannot become a
second command. The command runs in its own session: a worker that dies leaves it to finish, and the
worker that resumes asks again with the same idempotency key, which the command must honour.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from django.conf import settings

from estate.runbooks.executors.base import Executor, ExecutorError, ExecutorTimeout, Member

FACTS = "facts"
MAX_OUTPUT = 65536
FACTS_TIMEOUT_SECONDS = 60


def commands() -> dict[str, list[str]]:
    configured = settings.RUNBOOK_COMMANDS
    return {k: list(v) for k, v in configured.items() if isinstance(v, list | tuple) and v}


class CommandExecutor(Executor):
    name = "command"

    @classmethod
    def available_actions(cls) -> tuple[str, ...]:
        return tuple(sorted(name for name in commands() if name != FACTS))

    def act(self, action: str, node: str, params: dict, idempotency_key: str, *, timeout: float) -> dict:
        values = {"action": action, "node": node, "key": idempotency_key, "params": json.dumps(params, sort_keys=True),
                  "component": self.operation.component.slug}  # fmt: skip
        return self.run(action, values, timeout=timeout, what=f"{action} on {node}")

    def facts(self, component, *, key: str) -> list[Member]:
        values = {"action": FACTS, "node": "", "key": key, "params": "{}", "component": component.slug}
        answer = self.run(FACTS, values, timeout=FACTS_TIMEOUT_SECONDS, what="facts")
        members = answer.get("members")
        if not isinstance(members, list) or len(members) > 50:
            raise ExecutorError('The facts command must print {"members": [...]} (at most 50).')
        return [Member.parse(m) for m in members]

    def run(self, name: str, values: dict[str, str], *, timeout: float, what: str) -> dict:
        template = commands().get(name)
        if template is None:
            raise ExecutorError(f"No command is allowed for {name!r} (settings.RUNBOOK_COMMANDS).")
        argv = [fill(arg, values) for arg in template]
        try:
            # An allow-listed argv from settings, placeholders filled inside single arguments, no shell.
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)  # noqa: S603
        except OSError as exc:
            raise ExecutorError(f"{what}: could not start {argv[0]}: {exc}") from exc
        out, err = self.wait(proc, timeout, what)
        if proc.returncode:
            raise ExecutorError(f"{what}: exit status {proc.returncode}: {err.decode(errors='replace')[-300:].strip()}")
        return parse(out)

    def wait(self, proc: subprocess.Popen, timeout: float, what: str) -> tuple[bytes, bytes]:
        """The command's output; the lease renewed every second meanwhile; killed (its whole session) at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return proc.communicate(timeout=max(min(1.0, deadline - time.monotonic()), 0.01))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate()
                    raise ExecutorTimeout(f"{what}: no answer within {timeout:g} s; the command was stopped.") from None
                self.heartbeat()


def fill(arg: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


def parse(out: bytes) -> dict:
    text = out[:MAX_OUTPUT].decode(errors="replace").strip()
    if not text:
        return {}
    try:
        answer = json.loads(text)
    except ValueError:
        return {"output": text[:1000]}
    return answer if isinstance(answer, dict) else {"output": text[:1000]}
