"""The compose stage: the topology of the local stage in Docker containers, from ``docker-compose.yml``.

    Locust ──[client]──> sut ──[provider]──> provider          (containers on a bridge network
                          │ <──[callbacks]──────┘               of this stage's own; every port
                          └──[db]──> postgres                    published on 127.0.0.1 only)

``ComposeStage.start`` reads the services ``postgres``, ``toxiproxy``, ``provider`` and ``sut`` of
the compose file (image, command, environment, published ports, ``network_mode``; services with
``profiles`` such as Locust are for ``docker compose`` by hand) and starts them through the Docker
SDK, then makes the four links of ``docker/toxiproxy.json`` through Toxiproxy's API exactly as the
local stage does. It offers the runner and the faults what ``LocalStage`` offers: process faults
stop, kill and start containers; network faults stay Toxiproxy's; the harness's reads go to the
published ports directly. Locust runs beside the harness, as on the local stage.

Every container and the network carry the labels ``org.orderquake.stage`` (the stage) and
``org.orderquake.owner`` (pid and start time of the orderquake that made them): ``stop`` removes
them, even after a failed start, and the next stage removes those whose owner is dead.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

from contract import publishable_key
from harness._exceptions import InfrastructureError, OrderquakeError, SutError, UsageError
from harness._paths import PROJECT_ROOT
from harness.load.steps import flows_env
from harness.stage.local import LINKS, SUT_DATABASE, Link, StageConfig, _secret
from harness.stage.ports import free_port
from harness.stage.postgres import StopMode, accepts_connections
from harness.stage.process import alive, start_time
from harness.stage.protocol import heal_each
from harness.stage.provider_control import ProviderControl
from harness.stage.state import StageState, clean_orphans, new_state
from harness.stage.toxiproxy import ToxiproxyClient
from harness.target import Target, load_target

# The Docker SDK (the optional extra 'orderquake[compose]'; this module is imported only for
# --stage compose), by name: a plain import would find the project's docker/ folder under mypy.
try:
    docker: Any = importlib.import_module("docker")
    _errors: Any = importlib.import_module("docker.errors")
except ImportError as missing:  # without the SDK, 'docker' may even be found as the project's docker/ folder
    raise UsageError("expected the Docker SDK for Python for --stage compose, an optional extra that is not "
                     "installed: pip install 'orderquake[compose]', or run scripts/compose-setup.sh (which "
                     "also starts the engine and builds the images)") from missing
APIError, DockerException, ImageNotFound, NotFound = (_errors.APIError, _errors.DockerException,
                                                      _errors.ImageNotFound, _errors.NotFound)


COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
TOXIPROXY_CONFIG = PROJECT_ROOT / "docker" / "toxiproxy.json"
SERVICES = ("postgres", "toxiproxy", "provider", "sut")
LABEL_STAGE = "org.orderquake.stage"
LABEL_OWNER = "org.orderquake.owner"
_SERVICE_KEYS = frozenset({"image", "command", "environment", "ports", "network_mode", "depends_on", "profiles",
                           "volumes", "deploy"})
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SETUP_HINT = "run scripts/compose-setup.sh (or 'make test-compose'), which starts the engine and builds the images"
_API = "8474"
DIRECT = "sut-direct"
_SUT_PORT = 8000
_PROVIDER_PORT = 8100


# ---- the compose file ----------------------------------------------------------------------
@dataclass(frozen=True)
class Service:
    """One service of the compose file, its ``${NAME:-default}`` variables filled in."""

    name: str
    image: str
    command: tuple[str, ...] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()  # container ports, published on 127.0.0.1
    network_mode: str | None = None  # "service:<name>": join that service's network namespace


def _interpolate(text: str, values: Mapping[str, str], where: str) -> str:
    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in values:
            return values[name]
        if default is None:
            raise UsageError(f"{where}: ${{{name}}} has no value and no default: expected ${{{name}:-default}}")
        return default

    return _VARIABLE.sub(one, text)


def load_services(values: Mapping[str, str], path: Path = COMPOSE_FILE) -> dict[str, Service]:
    """The stage's services of the compose file at ``path``, with ``values`` for its variables.

    >>> load_services({"ORDERQUAKE_VARIANT": "no-reconciler"})["sut"].command[-1]
    'no-reconciler'
    """
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"compose file {path} could not be read: {exc}") from exc
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        raise UsageError(f"{path}: expected a mapping 'services', got {type(services).__name__}")
    found = {}
    for name in SERVICES:
        raw = services.get(name)
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: services.{name}: expected a service (the stage needs {', '.join(SERVICES)})")
        found[name] = _service(name, raw, values, f"{path}: services.{name}")
    return found


def _service(name: str, raw: dict[str, Any], values: Mapping[str, str], where: str) -> Service:
    unknown = sorted(set(raw) - _SERVICE_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}: the compose stage reads only {sorted(_SERVICE_KEYS)}")
    if raw.get("profiles"):
        raise UsageError(f"{where}: a stage service cannot have profiles")
    command = raw.get("command")
    if command is not None and not (isinstance(command, list) and all(isinstance(a, str) for a in command)):
        raise UsageError(f"{where}.command: expected a list of strings, got {command!r}")
    environment = raw.get("environment") or {}
    if not isinstance(environment, dict):
        raise UsageError(f"{where}.environment: expected a mapping, got {type(environment).__name__}")
    ports = []
    for entry in raw.get("ports") or []:
        text = str(entry)
        if not text.startswith("127.0.0.1:"):
            raise UsageError(f"{where}.ports: expected 127.0.0.1::PORT (loopback only), got {text!r}")
        ports.append(int(text.rsplit(":", 1)[1]))
    mode = raw.get("network_mode")
    if mode is not None and not (str(mode).startswith("service:") and str(mode)[8:] in SERVICES):
        raise UsageError(f"{where}.network_mode: expected service:<one of {', '.join(SERVICES)}>, got {mode!r}")
    return Service(name=name, image=_interpolate(str(raw.get("image", "")), values, f"{where}.image"),
                   command=None if command is None else tuple(_interpolate(a, values, f"{where}.command")
                                                              for a in command),
                   environment={str(k): _interpolate(str(v), values, f"{where}.environment.{k}")
                                for k, v in environment.items()},
                   ports=tuple(ports), network_mode=None if mode is None else str(mode))


def load_links(path: Path = TOXIPROXY_CONFIG) -> tuple[dict[str, Link], Link]:
    """The four links as Toxiproxy's config file declares them (container addresses), and
    ``sut-direct``: the harness's own way to the SUT, a proxy that never gets a toxic, since the
    SUT listens on 127.0.0.1 in the namespace it shares with Toxiproxy."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"Toxiproxy config {path} could not be read: {exc}") from exc
    found = {str(e["name"]): Link(name=str(e["name"]), listen=str(e["listen"]), upstream=str(e["upstream"]))
             for e in entries}
    if sorted(found) != sorted((*LINKS, DIRECT)):
        raise UsageError(f"{path}: expected the proxies {', '.join((*LINKS, DIRECT))}, "
                         f"got {', '.join(found) or 'none'}")
    for link in found.values():
        host = link.upstream.rsplit(":", 1)[0]
        if host != "127.0.0.1" and host not in SERVICES:  # traffic stays on this stage's own network
            raise UsageError(f"{path}: proxy {link.name} upstream {link.upstream}: expected 127.0.0.1 or a stage "
                             f"service ({', '.join(SERVICES)})")
    return {name: found[name] for name in LINKS}, found[DIRECT]


# ---- the engine ----------------------------------------------------------------------------
def engine() -> Any:
    """A client of the Docker engine, or an InfrastructureError saying what to do."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        raise InfrastructureError(f"no Docker engine answers ({exc}): {_SETUP_HINT}") from exc
    return client


def _owner() -> str:
    return f"{os.getpid()}:{start_time(os.getpid())}"


def clean_container_orphans(client: Any) -> list[str]:
    """Remove the containers and networks of compose stages whose orderquake is dead."""
    dead: set[str] = set()
    for container in client.containers.list(all=True, filters={"label": LABEL_OWNER}):
        pid, _, started = container.labels.get(LABEL_OWNER, "").partition(":")
        if not alive(int(pid), int(started) if started.isdigit() else None):
            dead.add(container.labels.get(LABEL_STAGE, ""))
            container.remove(force=True)
    for network in client.networks.list(filters={"label": LABEL_OWNER}):
        pid, _, started = network.attrs.get("Labels", {}).get(LABEL_OWNER, "").partition(":")
        if not alive(int(pid), int(started) if started.isdigit() else None):
            network.remove()
    return [f"removed compose stage {name!r} left by a stopped orderquake" for name in sorted(dead)]


def _poll(ready: Callable[[], bool], *, deadline_s: float, what: str, error: type[OrderquakeError],
          tail: Callable[[], str]) -> None:
    deadline = time.monotonic() + deadline_s
    while not ready():
        if time.monotonic() > deadline:
            raise error(f"{what} was not ready within {deadline_s:g} s; its log ends:\n{tail()}")
        time.sleep(0.1)


# ---- containers as the faults know them ----------------------------------------------------
@dataclass
class ContainerProcess:
    """One container, driven as the local stage drives a supervised process."""

    name: str
    container: Any
    probe: Callable[[], bool]
    ready_deadline_s: float = 30.0
    error: type[OrderquakeError] = InfrastructureError

    @property
    def pid(self) -> int | None:
        return None  # the container is the unit; its processes are not the harness's to signal

    @property
    def running(self) -> bool:
        try:
            self.container.reload()
        except NotFound:
            return False
        return bool(self.container.status == "running")

    def start(self) -> None:
        self.container.start()

    def wait_ready(self, deadline_s: float | None = None) -> None:
        _poll(lambda: self.running and self.probe(), deadline_s=deadline_s or self.ready_deadline_s,
              what=f"container {self.name}", error=self.error, tail=self.log_tail)

    def signal(self, sig: signal.Signals, *, deadline_s: float = 30.0) -> None:
        """Send ``sig`` to the container's first process and wait until the container has exited."""
        if self.running:
            try:
                self.container.kill(signal=sig.name)
            except APIError as exc:  # it exited between the check and the signal
                if self.running:
                    raise InfrastructureError(f"container {self.name} did not take {sig.name}: {exc}") from exc
        _poll(lambda: not self.running, deadline_s=deadline_s, what=f"the end of container {self.name}",
              error=InfrastructureError, tail=self.log_tail)

    def crash(self) -> None:
        self.signal(signal.SIGKILL)

    def stop(self, grace_s: float = 3.0) -> None:
        if self.running:
            self.container.stop(timeout=int(grace_s))

    def log_tail(self, lines: int = 12) -> str:
        try:
            return str(self.container.logs(tail=lines).decode(errors="replace"))
        except APIError:
            return "(no log)"


@dataclass
class ContainerPostgres:
    """PostgreSQL in its container: ``stop`` sends the signal of pg_ctl's mode, ``kill`` SIGKILL."""

    process: ContainerProcess
    port: int  # published on 127.0.0.1
    data_dir: Path  # nothing on the host: the data lives in the container and dies with it

    _SIGNALS = {StopMode.IMMEDIATE: signal.SIGQUIT, StopMode.FAST: signal.SIGINT}

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, database: str, *, host: str = "127.0.0.1", port: int | None = None) -> str:
        return f"postgresql://postgres@{host}:{port or self.port}/{database}"

    @property
    def pid(self) -> int | None:
        return None

    @property
    def running(self) -> bool:
        return self.process.running

    def accepts_connections(self) -> bool:
        return accepts_connections(self.url)

    def start(self, deadline_s: float = 30.0) -> None:
        if not self.running:
            self.process.start()
        self.process.wait_ready(deadline_s)

    def stop(self, mode: StopMode | str = StopMode.FAST, deadline_s: float = 30.0) -> None:
        self.process.signal(self._SIGNALS[StopMode(mode)], deadline_s=deadline_s)

    def kill(self) -> None:
        self.process.signal(signal.SIGKILL)

    def run_sql(self, database: str, sql: str, *, what: str) -> None:
        try:
            with psycopg.connect(self.database_url(database), connect_timeout=5) as conn:
                conn.execute(sql.encode())
        except psycopg.Error as exc:
            raise UsageError(f"{what} failed in database {database!r}: {str(exc).strip()}") from exc


def _http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code < 500
        except httpx.HTTPError:
            return False

    return probe


# ---- the stage -----------------------------------------------------------------------------
_COUNTER = iter(range(1, 1 << 30))
_UNSUPPORTED = (("setup", "setup commands"), ("cwd", "a working folder on the host"))


def _check_target(target: Target) -> None:
    """What the compose stage cannot do for a target yet, told before anything starts."""
    for key, what in _UNSUPPORTED:
        if getattr(target, key):
            raise UsageError(f"target {target.name!r} has {key}: ({what}), which the compose stage does not run; "
                             "use the local stage (--stage local)")
    provider = target.provider
    if provider.dialect != "native" or provider.python_shim or provider.intercept:
        raise UsageError(f"target {target.name!r} needs the provider's {provider.dialect} dialect, shim or intercept, "
                         "which the compose stage does not start yet; use the local stage (--stage local)")


@dataclass
class ComposeStage:
    """The stage of ``docker-compose.yml`` (see the module docstring); built by ``start`` only."""

    config: StageConfig
    target: Target
    state: StageState
    client: Any
    project: str
    services: dict[str, Service]
    links: dict[str, Link]
    direct: Link  # sut-direct (see load_links)
    ports: dict[str, int]  # "<service>:<container port>" -> port published on 127.0.0.1
    api_key: str
    webhook_secret: str
    toxiproxy: ToxiproxyClient
    containers: dict[str, ContainerProcess] = field(default_factory=dict)
    components: dict[str, ContainerProcess] = field(default_factory=dict)  # provider, sut
    network: Any = None
    _postgres: ContainerPostgres | None = None

    # ---- addresses (the harness's, on 127.0.0.1) ------------------------------------------
    def _published(self, service: str, port: int | str) -> int:
        return self.ports[f"{service}:{port}"]

    @property
    def postgres(self) -> ContainerPostgres:
        if self._postgres is None:
            raise InfrastructureError("the compose stage's PostgreSQL container was not created")
        return self._postgres

    @property
    def provider_url(self) -> str:
        return f"http://127.0.0.1:{self._published('provider', _PROVIDER_PORT)}"

    @property
    def provider(self) -> ProviderControl:
        """The mock provider's control and truth endpoints, at its published port."""
        return ProviderControl(self.provider_url, api_key=self.api_key)

    @property
    def sut_url(self) -> str:
        return f"http://127.0.0.1:{self._published('toxiproxy', self.direct.listen.rsplit(':', 1)[1])}"

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self._published('toxiproxy', self.links['client'].listen.rsplit(':', 1)[1])}"

    @property
    def sut_database_url(self) -> str:
        return self.postgres.database_url(SUT_DATABASE)

    @property
    def log_dir(self) -> Path:
        return self.config.log_dir or self.config.root / "logs"

    # ---- life cycle ------------------------------------------------------------------------
    @classmethod
    def start(cls, config: StageConfig) -> ComposeStage:
        """Bring every container up and healthy; on any failure remove what started and raise."""
        if config.provider_processes != 1:
            raise UsageError(f"provider_processes={config.provider_processes}: the compose stage runs one provider "
                             "process; use the local stage for several")
        target = config.target or load_target(None)
        variant = target.check_variant(config.variant)
        _check_target(target)
        client = engine()
        clean_orphans()
        clean_container_orphans(client)
        api_key, secret = "sk_test_" + _secret(config.seed, "api"), "whsec_" + _secret(config.seed, "webhook")
        values = {"ORDERQUAKE_SEED": str(config.seed), "ORDERQUAKE_API_KEY": api_key,
                  "ORDERQUAKE_WEBHOOK_SECRET": secret, "ORDERQUAKE_VARIANT": variant}
        if os.environ.get("ORDERQUAKE_SUT_IMAGE"):
            values["ORDERQUAKE_SUT_IMAGE"] = os.environ["ORDERQUAKE_SUT_IMAGE"]
        services = load_services(values)
        if services["sut"].network_mode != "service:toxiproxy":
            raise UsageError(f"{COMPOSE_FILE}: services.sut.network_mode: expected service:toxiproxy (the links reach "
                             f"the SUT on 127.0.0.1:{_SUT_PORT}), got {services['sut'].network_mode!r}")
        for service in services.values():
            try:
                client.images.get(service.image)
            except ImageNotFound:
                raise InfrastructureError(f"image {service.image} (service {service.name}) not found: "
                                          f"{_SETUP_HINT}") from None
        config.root.mkdir(parents=True, exist_ok=True)
        project = f"oq-{os.getpid()}-{next(_COUNTER)}"
        state = new_state(config.name or project, config.root)
        state.info["compose_project"] = project
        state.save()
        ports = {f"{s.name}:{p}": free_port() for s in services.values() for p in s.ports}
        toxiproxy = ToxiproxyClient(f"http://127.0.0.1:{ports['toxiproxy:' + _API]}")
        state.toxiproxy_url = toxiproxy.base_url
        links, direct = load_links()
        stage = cls(config=config, target=target, state=state, client=client, project=project, services=services,
                    links=links, direct=direct, ports=ports, api_key=api_key, webhook_secret=secret,
                    toxiproxy=toxiproxy)
        try:
            stage._bring_up(variant)
        except BaseException:
            stage.stop()
            raise
        return stage

    def _labels(self) -> dict[str, str]:
        return {LABEL_STAGE: self.project, LABEL_OWNER: _owner()}

    def _create(self, service: Service, *, command: list[str] | None = None,
                environment: Mapping[str, str] | None = None) -> Any:
        kwargs: dict[str, Any] = {"name": f"{self.project}-{service.name}", "labels": self._labels(),
                                  "environment": dict(environment or service.environment), "detach": True}
        if command is not None or service.command is not None:
            kwargs["command"] = command if command is not None else list(service.command or ())
        if service.network_mode is not None:
            kwargs["network_mode"] = f"container:{self.containers[service.network_mode[8:]].container.id}"
        else:
            kwargs["network"] = self.project
            kwargs["networking_config"] = {self.project: self.client.api.create_endpoint_config(
                aliases=[service.name])}
            kwargs["ports"] = {f"{p}/tcp": ("127.0.0.1", self._published(service.name, p)) for p in service.ports}
        try:
            return self.client.containers.create(service.image, **kwargs)
        except DockerException as exc:
            raise InfrastructureError(f"container {service.name} could not be created: {exc}") from exc

    def _bring_up(self, variant: str) -> None:
        self.network = self.client.networks.create(self.project, driver="bridge", labels=self._labels())
        # The toxiproxy container first: the SUT joins its namespace. The rest are created at once,
        # since with the vfs storage driver each creation copies its whole image.
        self._adopt("toxiproxy", self._create(self.services["toxiproxy"]))
        sut_values = self.stage_values()
        sut_command = self.target.command(self.target.start, variant, {**sut_values, "python": "python"})
        sut_env = self.sut_environment()
        made: dict[str, Any] = {}
        errors: list[BaseException] = []

        def create(name: str) -> None:
            try:
                if name == "sut":
                    made[name] = self._create(self.services[name], command=sut_command, environment=sut_env)
                else:
                    made[name] = self._create(self.services[name])
            except BaseException as exc:  # re-raised in the caller's thread below
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(name,)) for name in ("postgres", "provider", "sut")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for name, container in made.items():
            self._adopt(name, container)
        if errors:
            raise errors[0]
        for name in ("postgres", "toxiproxy", "provider"):
            self.containers[name].start()
        self.containers["toxiproxy"].wait_ready()
        self._create_links()
        self.postgres.start()
        if self.target.fixtures:
            self.postgres.run_sql(SUT_DATABASE, self.target.fixtures, what="the target's fixtures")
        self.components["sut"].start()
        for process in self.components.values():
            process.wait_ready()

    def _adopt(self, name: str, container: Any) -> None:
        probes: dict[str, Callable[[], bool]] = {
            "toxiproxy": _http_ok(f"{self.toxiproxy.base_url}/version"),
            "provider": _http_ok(f"{self.provider_url}/healthz"),
            "sut": _http_ok(f"{self.sut_url}{self.target.health}")}
        if name == "postgres":
            process = ContainerProcess(name, container, probe=lambda: self.postgres.accepts_connections())
            self._postgres = ContainerPostgres(process, self._published("postgres", 5432),
                                               self.config.root / "postgres")
        else:
            process = ContainerProcess(name, container, probe=probes[name],
                                       ready_deadline_s=self.target.ready_deadline if name == "sut" else 30.0,
                                       error=SutError if name == "sut" else InfrastructureError)
        self.containers[name] = process
        if name in ("provider", "sut"):
            self.components[name] = process

    def _create_links(self) -> None:
        self.toxiproxy.reset()
        for existing in self.toxiproxy.proxies():
            self.toxiproxy.delete_proxy(existing)
        for link in (*(self.links[name] for name in LINKS), self.direct):
            proxy = self.toxiproxy.create_proxy(link.name, link.listen, link.upstream)
            if link.name in self.links:  # as Toxiproxy tells it (0.0.0.0 reads back as [::])
                self.links[link.name] = Link(name=link.name, listen=proxy.listen, upstream=proxy.upstream)
        self.state.links = {n: {"listen": link.listen, "upstream": link.upstream} for n, link in self.links.items()}
        self.state.save()

    def stage_values(self) -> dict[str, str]:
        """The target's template values as the SUT sees them: it shares Toxiproxy's namespace, so
        each link is on 127.0.0.1; the provider reaches the callbacks link by the service's name."""
        port = {name: link.listen.rsplit(":", 1)[1] for name, link in self.links.items()}
        return {"port": str(_SUT_PORT),
                "database_url": f"postgresql://postgres@127.0.0.1:{port['db']}/{SUT_DATABASE}",
                "database_host": "127.0.0.1", "database_port": port["db"], "database_name": SUT_DATABASE,
                "database_user": "postgres", "database_password": "",
                "provider_url": f"http://127.0.0.1:{port['provider']}", "api_key": self.api_key,
                "publishable_key": publishable_key(self.api_key), "webhook_secret": self.webhook_secret,
                "callback_base_url": f"http://toxiproxy:{port['callbacks']}"}

    def sut_environment(self) -> dict[str, str]:
        """The compose file's environment of the SUT, then the SUT contract's (docs/design.md section 4),
        the target's own names and the stage config's extras, each over the one before."""
        values = self.stage_values()
        env = {"PORT": values["port"], "DATABASE_URL": values["database_url"], "PROVIDER_URL": values["provider_url"],
               "PROVIDER_API_KEY": self.api_key, "PROVIDER_WEBHOOK_SECRET": self.webhook_secret,
               "CALLBACK_BASE_URL": values["callback_base_url"]}
        return {**self.services["sut"].environment, **env, **self.target.environment(values), **self.config.sut_env}

    def flows_env(self) -> str:
        """``ORDERQUAKE_FLOWS`` for the load, which runs beside the harness: the provider's published URL."""
        return flows_env(self.target, self.provider_url, self.api_key)

    def restart(self, name: str) -> None:
        """Start a stopped or killed component's container again and wait until it is ready."""
        process = self.components[name]
        if not process.running:
            process.start()
        process.wait_ready()

    def register_process(self, name: str, pids: list[int]) -> None:
        """Record processes the run started (Locust) so that a killed harness leaves none behind."""
        for index, pid in enumerate(pids):
            self.state.record(f"{name}-{index}", pid)

    def heal(self) -> None:
        """Every toxic removed, every link enabled, PostgreSQL and every component running."""
        restarts = [lambda name=name: self.restart(name) for name in self.components]
        heal_each([self.toxiproxy.reset, self.postgres.start, *restarts], "the compose stage")

    def stop(self) -> None:
        """Keep each container's log in the log folder, remove every container and the network."""
        self.toxiproxy.close()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name, process in reversed(list(self.containers.items())):
            with contextlib.suppress(APIError):
                (self.log_dir / f"{name}.log").write_bytes(process.container.logs())
            try:
                process.container.remove(force=True)
            except NotFound:
                pass
            except APIError as exc:
                print(f"orderquake: container {name} could not be removed: {exc}", file=sys.stderr)
        self.containers.clear()
        self.components.clear()
        if self.network is not None:
            try:
                self.network.remove()
            except APIError as exc:
                print(f"orderquake: network {self.project} could not be removed: {exc}", file=sys.stderr)
            self.network = None
        self.state.kill_all()
        self.state.discard()
