"""A stage left running by ``orderquake up``: found by its state file, inspected, faulted, stopped.

``up`` starts a named stage and detaches it: its processes outlive the command, and the state
file is how ``status``, ``fault`` and ``down`` find them again. Manual faults go straight to
Toxiproxy; every toxic orderquake adds is named ``<kind>_<stream>`` (or as given), and a link
taken ``down`` is a disabled proxy, so ``fault list`` shows exactly what Toxiproxy holds.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from contract import publishable_key
from harness._exceptions import UsageError
from harness._paths import state_dir
from harness.stage.local import LINKS, LocalStage, StageConfig
from harness.stage.ports import port_open
from harness.stage.process import alive
from harness.stage.state import DEFAULT_STAGE, StageState, clean_orphans, find
from harness.stage.toxics import Stream, ToxicKind, validate_toxic
from harness.stage.toxiproxy import ToxiproxyClient
from harness.target import Target

DOWN = "down"
FAULT_KINDS = (*(k.value for k in ToxicKind), DOWN)


def running_stage() -> StageState:
    """The stage ``orderquake up`` left running, or a UsageError saying how to start one."""
    clean_orphans()
    state = find(DEFAULT_STAGE)
    if state is None:
        raise UsageError("no stage is up: start one with 'orderquake up'")
    return state


def up(*, target: Target | None, variant: str | None, seed: int, allow_remote: bool) -> LocalStage:
    """Start the default stage and detach it; refuse if one is already up."""
    clean_orphans()
    existing = find(DEFAULT_STAGE)
    if existing is not None:
        if any(alive(p.pid, p.started) for p in existing.processes):
            raise UsageError("a stage is already up ('orderquake status' shows it): run 'orderquake down' first")
        existing.discard()
    root = state_dir() / DEFAULT_STAGE
    shutil.rmtree(root, ignore_errors=True)
    stage = LocalStage.start(StageConfig(root=root, target=target, variant=variant, seed=seed,
                                         allow_remote=allow_remote, name=DEFAULT_STAGE))
    stage.state.detached = True
    stage.state.remove_root = True
    stage.state.info = {"provider_url": stage.provider_url, "sut_url": stage.sut_url if "sut" in stage.components
                        else "", "client_url": stage.client_url, "sut_database_url": stage.sut_database_url,
                        "api_key": stage.api_key, "webhook_secret": stage.webhook_secret,
                        "publishable_key": publishable_key(stage.api_key),
                        "provider_dialect": stage.target.provider.dialect,
                        "webhook_url": (stage.links["callbacks"].url + stage.target.provider.webhook_path
                                        if stage.target.provider.dialect != "native" else ""),
                        "operations": list(stage.target.flow_names()),
                        "sut_environment": stage.sut_environment() if "sut" in stage.components else {},
                        "logs": str(stage.log_dir), "variant": variant or "correct", "target": stage.target.name}
    stage.state.save()
    return stage


def down() -> list[str]:
    """Stop every process of the default stage and remove its files; return the names stopped."""
    clean_orphans()
    state = find(DEFAULT_STAGE)
    if state is None:
        return []
    stopped = state.stop_all()
    state.discard()
    return stopped


def _healthy(name: str, url: str) -> bool:
    if name == "postgres":
        host, port = url.split("@", 1)[-1].split("/", 1)[0].rsplit(":", 1)
        return port_open(host, int(port))
    probe = {"toxiproxy": "/version", "provider": "/healthz", "sut": "/healthz"}.get(name)
    if probe is None or not url:
        return True
    try:
        return httpx.get(url + probe, timeout=1.0).is_success
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class Status:
    components: dict[str, dict[str, Any]]
    links: dict[str, dict[str, Any]]
    info: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"components": self.components, "links": self.links, "stage": dict(self.info)}


def status(state: StageState) -> Status:
    components = {}
    for entry in state.processes:
        running = alive(entry.pid, entry.started)
        components[entry.name] = {"pid": entry.pid, "url": entry.url,
                                  "healthy": running and _healthy(entry.name, entry.url)}
    links: dict[str, dict[str, Any]] = {}
    client = ToxiproxyClient(state.toxiproxy_url)
    try:
        for name, proxy in client.proxies().items():
            links[name] = {"listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled,
                           "toxics": [{"name": t.name, "kind": t.kind, "stream": t.stream, "toxicity": t.toxicity,
                                       "attributes": t.attributes} for t in proxy.toxics]}
    finally:
        client.close()
    return Status(components=components, links=links, info=state.info)


def check_link(link: str) -> str:
    if link not in LINKS:
        raise UsageError(f"unknown link {link!r}: expected one of {', '.join(LINKS)}")
    return link


def check_fault(kind: str, attributes: Mapping[str, Any]) -> dict[str, int]:
    """The complete attributes of a manual fault, or a UsageError naming what is allowed."""
    if kind == DOWN:
        if attributes:
            raise UsageError(f"fault 'down' takes no attributes, got {', '.join(sorted(attributes))}")
        return {}
    return validate_toxic(kind, attributes)


def add_fault(state: StageState, kind: str, *, link: str, stream: str, toxicity: float,
              attributes: Mapping[str, Any], name: str | None) -> list[str]:
    """Add a toxic (on one or both streams) or take a link down; return the names added."""
    check_link(link)
    client = ToxiproxyClient(state.toxiproxy_url)
    try:
        check_fault(kind, attributes)
        if kind == DOWN:
            client.set_enabled(link, False)
            return [f"{DOWN}:{link}"]
        aliases = {"up": "upstream", "down": "downstream"}
        streams = [Stream.UPSTREAM, Stream.DOWNSTREAM] if stream == "both" else [Stream(aliases.get(stream, stream))]
        added = []
        for direction in streams:
            toxic_name = f"{name or kind}_{direction.value}" if name is None or len(streams) > 1 else name
            added.append(client.add_toxic(link, kind, name=toxic_name, stream=direction, toxicity=toxicity,
                                          attributes=attributes).name)
        return added
    finally:
        client.close()


def remove_fault(state: StageState, name: str | None) -> list[str]:
    """Remove one toxic by name (``down:LINK`` enables a link), or everything when ``name`` is None."""
    client = ToxiproxyClient(state.toxiproxy_url)
    try:
        if name is None:
            client.reset()
            return ["all"]
        if name.startswith(f"{DOWN}:"):
            client.set_enabled(check_link(name.split(":", 1)[1]), True)
            return [name]
        removed = []
        for link, proxy in client.proxies().items():
            for toxic in proxy.toxics:
                if toxic.name == name:
                    client.remove_toxic(link, name)
                    removed.append(f"{link}/{name}")
        if not removed:
            held = [t.name for p in client.proxies().values() for t in p.toxics]
            disabled = [f"{DOWN}:{n}" for n, p in client.proxies().items() if not p.enabled]
            raise UsageError(f"no fault named {name!r}: the stage holds {', '.join(held + disabled) or 'none'}")
        return removed
    finally:
        client.close()


def log_dir(state: StageState) -> Path:
    return Path(str(state.info.get("logs") or Path(state.root) / "logs"))
