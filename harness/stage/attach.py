"""Attach mode: run scenarios against a stage that already exists (staging), named by a stage file.

    toxiproxy: http://127.0.0.1:8474          # its API; proxies named client, provider, callbacks, db
    database_url: postgresql://app@db:5432/shop   # the SUT's database, read directly (never a link)
    provider_url: http://127.0.0.1:9100       # the mock provider, direct: ledger and control endpoints
    sut_url: http://127.0.0.1:8000            # optional: the SUT, direct (forged callbacks need it)
    api_key: sk_test_...                      # optional: the provider's key and webhook secret, for the
    webhook_secret: whsec_...                 #   faults that change them and the browser's steps

orderquake starts, stops and kills nothing here: Locust is the only process it runs. A fault that
needs to stop or kill a process (``PROCESS_FAULTS``) is refused before anything starts (exit 2);
network faults are Toxiproxy toxics and link states on the proxies the file names, and the
provider's misbehaviour goes through its control API, both undone at heal. Heal and stop remove
only the toxics this run added and re-enable only the links it took down: what the stage held
before the run is left as it was. Every address must be loopback unless ``--allow-remote``.
``orderquake status --json`` of a stage started by ``orderquake up`` holds every value a stage
file needs (``stage_file_from_status``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness._exceptions import InfrastructureError, OrderquakeError, ScenarioError, UsageError
from harness._yaml import Reader, load_with_lines
from harness.load.steps import flows_env
from harness.stage.local import LINKS, Link, check_loopback
from harness.stage.postgres import PostgresServer
from harness.stage.process import SupervisedProcess
from harness.stage.provider_control import ProviderControl
from harness.stage.state import StageState
from harness.stage.toxiproxy import ToxiproxyClient
from harness.target import Target

PROCESS_FAULTS = frozenset({"db_outage", "db_kill", "provider_crash", "sut_crash"})
_KEYS = ("toxiproxy", "database_url", "provider_url", "sut_url", "api_key", "webhook_secret")


@dataclass(frozen=True)
class AttachFile:
    toxiproxy: str
    database_url: str
    provider_url: str
    sut_url: str = ""
    api_key: str = ""
    webhook_secret: str = ""


def load_attach(path: Path, *, allow_remote: bool) -> AttachFile:
    """Read and check a stage file; a UsageError (file, line, field) when it is wrong, or when an
    address is not loopback and ``allow_remote`` is not given."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"stage file {path} could not be read ({exc.strerror}): expected a YAML file with "
                         f"{', '.join(_KEYS)} (see harness/stage/attach.py)") from None
    data, lines = load_with_lines(text, str(path))
    r = Reader(str(path), lines)
    if not isinstance(data, dict):
        raise ScenarioError(f"expected a mapping with {', '.join(_KEYS)}", file=str(path), line=1)
    r.mapping(data, (), _KEYS)
    values = {}
    for key in _KEYS:
        if key not in data:
            if key in ("toxiproxy", "database_url", "provider_url"):
                raise r.fail((key,), f"missing key {key!r}: a stage file needs toxiproxy, database_url, provider_url")
            continue
        values[key] = r.text(data[key], (key,))
        if key in ("toxiproxy", "database_url", "provider_url", "sut_url"):
            parts = urlsplit(values[key])
            if not parts.hostname:
                raise r.fail((key,), f"expected a URL with a host, like http://127.0.0.1:8474, got {values[key]!r}")
            try:
                check_loopback(f"{parts.hostname}:{parts.port or 0}", allow_remote=allow_remote,
                               what=f"the stage file's {key}")
            except UsageError as exc:
                raise r.fail((key,), str(exc)) from None
    return AttachFile(**values)


def stage_file_from_status(status: dict[str, Any]) -> dict[str, str]:
    """A stage file's values from ``orderquake status --json`` of a running stage."""
    stage, components = status["stage"], status["components"]
    return {"toxiproxy": components["toxiproxy"]["url"], "database_url": stage["sut_database_url"],
            "provider_url": stage["provider_url"], "sut_url": stage.get("sut_url", ""),
            "api_key": stage["api_key"], "webhook_secret": stage["webhook_secret"]}


@dataclass
class AttachedStage:
    """The stage interface the runner and the faults use (``harness.stage.protocol.Stage``), over a
    stage orderquake did not start."""

    target: Target
    file: AttachFile
    logs: Path
    toxiproxy: ToxiproxyClient
    links: dict[str, Link] = field(default_factory=dict)
    components: dict[str, SupervisedProcess] = field(default_factory=dict)  # none: nothing here is ours
    _toxics_before: dict[str, set[str]] = field(default_factory=dict)
    _enabled_before: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def open(cls, target: Target, file: AttachFile, *, log_dir: Path, allow_remote: bool) -> AttachedStage:
        client = ToxiproxyClient(file.toxiproxy)
        try:
            proxies = client.proxies()
        except OrderquakeError:
            client.close()
            raise
        missing = [name for name in LINKS if name not in proxies]
        if missing:
            client.close()
            raise UsageError(f"the Toxiproxy at {file.toxiproxy} has no proxy named {', '.join(missing)}: attach mode "
                             f"expects the four links as proxies named {', '.join(LINKS)} (it has "
                             f"{', '.join(sorted(proxies)) or 'none'})")
        stage = cls(target=target, file=file, logs=log_dir, toxiproxy=client)
        for name in LINKS:
            proxy = proxies[name]
            check_loopback(proxy.listen, allow_remote=allow_remote, what=f"link {name}")
            stage.links[name] = Link(name=name, listen=proxy.listen, upstream=proxy.upstream)
            stage._toxics_before[name] = {toxic.name for toxic in proxy.toxics}
            stage._enabled_before[name] = proxy.enabled
        return stage

    # ---- addresses, as LocalStage's -----------------------------------------------------------
    @property
    def log_dir(self) -> Path:
        return self.logs

    @property
    def postgres(self) -> PostgresServer:
        raise UsageError("attach mode: orderquake did not start the database and never stops or kills it")

    @property
    def state(self) -> StageState:
        raise UsageError("attach mode: the attached stage has no state file of orderquake's")

    @property
    def provider_url(self) -> str:
        return self.file.provider_url.rstrip("/")

    @property
    def sut_url(self) -> str:
        if not self.file.sut_url:
            raise UsageError("this fault needs the SUT's direct address: add sut_url to the stage file")
        return self.file.sut_url.rstrip("/")

    @property
    def provider(self) -> ProviderControl:
        return ProviderControl(self.provider_url, api_key=self.api_key)

    @property
    def client_url(self) -> str:
        return self.links["client"].url

    @property
    def sut_database_url(self) -> str:
        return self.file.database_url

    @property
    def api_key(self) -> str:
        return self.file.api_key

    @property
    def webhook_secret(self) -> str:
        return self.file.webhook_secret

    def flows_env(self) -> str:
        return flows_env(self.target, self.provider_url, self.api_key)

    # ---- life cycle: nothing of the stage's own is started, stopped or killed ------------------
    def register_process(self, name: str, pids: list[int]) -> None:
        """Locust is stopped by the run itself; the stage holds no state file to record it in."""

    def restart(self, name: str) -> None:
        raise UsageError(f"attach mode: orderquake did not start {name} and never restarts it")

    def heal(self) -> None:
        """Remove the toxics this run added and enable the links it took down; nothing else."""
        errors = []
        for name, proxy in self.toxiproxy.proxies().items():
            if name not in self.links:
                continue
            try:
                for toxic in proxy.toxics:
                    if toxic.name not in self._toxics_before.get(name, set()):
                        self.toxiproxy.remove_toxic(name, toxic.name)
                if self._enabled_before.get(name, True) and not proxy.enabled:
                    self.toxiproxy.set_enabled(name, True)
            except OrderquakeError as exc:
                errors.append(str(exc))
        if errors:
            raise InfrastructureError("the attached stage could not be healed: " + "; ".join(errors))

    def stop(self) -> None:
        try:
            self.heal()
        finally:
            self.toxiproxy.close()
