"""The local stage: PostgreSQL, Toxiproxy, the mock provider and the SUT as processes on loopback.

    Locust ──[client]──> SUT ──[provider]──> mock provider
                          │ <──[callbacks]───────┘
                          └──[db]──> PostgreSQL

Every arrow is a Toxiproxy proxy on a free port; the harness's own reads use the direct URLs.
``LocalStage.start`` returns once every component is healthy; ``stop`` leaves nothing behind,
and a stage whose orderquake was killed is cleaned by the next one (see ``state``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from contract import Link as LinkName
from contract import publishable_key
from harness._exceptions import OrderquakeError, SutError, UsageError
from harness.load.steps import flows_env
from harness.stage import intercept
from harness.stage.ports import free_port
from harness.stage.postgres import PostgresServer, data_home
from harness.stage.process import SupervisedProcess, http_probe, run_setup
from harness.stage.protocol import heal_each
from harness.stage.provider_control import ProviderControl
from harness.stage.state import StageState, clean_orphans, new_state
from harness.stage.toxiproxy import ToxiproxyClient, toxiproxy_process
from harness.target import Target, load_target

LINKS = tuple(link.value for link in LinkName)
_PORT_TAKEN = ("already in use", "could not bind", "Address in use")
SUT_DATABASE = "sut"
DATABASE_USER = "postgres"
SHIM_DIR = Path(__file__).resolve().parent / "shim"


def check_loopback(address: str, *, allow_remote: bool, what: str) -> None:
    """Refuse an upstream outside 127.0.0.0/8 and ::1 unless ``allow_remote``."""
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost" or allow_remote:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(f"{what} {address} is not a loopback address: orderquake sends load and faults only to "
                         "127.0.0.0/8 or ::1 unless --allow-remote is given")


@dataclass(frozen=True)
class StageConfig:
    """What to bring up. ``components`` names the app processes to start besides PostgreSQL and Toxiproxy."""

    root: Path
    target: Target | None = None
    variant: str | None = None
    seed: int = 1
    log_dir: Path | None = None
    allow_remote: bool = False
    components: tuple[str, ...] = ("provider", "sut")
    name: str | None = None  # a named stage (``orderquake up``) outlives its command
    sut_env: dict[str, str] = field(default_factory=dict)
    provider_processes: int = 1  # mock provider processes behind the one provider link (native dialect)

    def __post_init__(self) -> None:
        check_provider_processes(self.provider_processes, self.target)


def check_provider_processes(count: int, target: Target | None) -> None:
    """A UsageError unless ``count`` provider processes can serve ``target`` (several: native dialect only)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"expected 1 or more provider processes, got provider_processes={count!r}")
    if count > 1 and target is not None and target.provider.dialect != "native":
        raise UsageError(f"provider_processes={count}: several provider processes serve the native dialect only, "
                         f"and the target {target.name!r} uses {target.provider.dialect!r}")


@dataclass(frozen=True)
class Link:
    name: str
    listen: str
    upstream: str

    @property
    def url(self) -> str:
        return f"http://{self.listen}"


def _secret(seed: int, purpose: str) -> str:
    return hashlib.sha256(f"orderquake:{seed}:{purpose}".encode()).hexdigest()[:32]


def available_components() -> tuple[str, ...]:
    """The app components whose code is installed (the stage degrades to PostgreSQL + Toxiproxy)."""
    found = []
    if importlib.util.find_spec("mock_provider") is not None:
        found.append("provider")
    if importlib.util.find_spec("order_service") is not None:
        found.append("sut")
    return tuple(found)


@dataclass
class LocalStage:
    config: StageConfig
    target: Target
    state: StageState
    postgres: PostgresServer
    toxiproxy_process: SupervisedProcess
    toxiproxy: ToxiproxyClient
    links: dict[str, Link] = field(default_factory=dict)
    components: dict[str, SupervisedProcess] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    component_urls: dict[str, str] = field(default_factory=dict)
    api_key: str = ""
    webhook_secret: str = ""
    intercept_certs: intercept.InterceptCerts | None = None

    # ---- addresses -------------------------------------------------------------------------
    @property
    def provider_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['provider']}"

    @property
    def sut_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sut']}"

    @property
    def provider(self) -> ProviderControl:
        """The mock provider's control and truth endpoints, direct (never through a link)."""
        return ProviderControl(self.provider_url, api_key=self.api_key)

    @property
    def client_url(self) -> str:
        return self.links["client"].url

    @property
    def sut_database_url(self) -> str:
        return self.postgres.database_url(SUT_DATABASE)

    @property
    def log_dir(self) -> Path:
        return self.config.log_dir or self.config.root / "logs"

    # ---- life cycle ------------------------------------------------------------------------
    @classmethod
    def start(cls, config: StageConfig, *, attempts: int = 3) -> LocalStage:
        """Bring every component up and healthy; on any failure stop what started and raise.

        A port found free can be taken by another program before our server binds it; such a
        start is retried with fresh ports, up to ``attempts`` times.
        """
        for attempt in range(1, attempts + 1):
            try:
                return cls._start_once(config)
            except OrderquakeError as exc:
                if attempt == attempts or not any(sign in str(exc) for sign in _PORT_TAKEN):
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _start_once(cls, config: StageConfig) -> LocalStage:
        target = config.target or load_target(None)
        target.check_variant(config.variant)  # a wrong name is told before anything starts
        clean_orphans()
        config.root.mkdir(parents=True, exist_ok=True)
        name = config.name or f"run-{config.root.resolve().parent.name}-{config.root.name}-{id(config):x}"
        state = new_state(name, config.root, detached=False)
        log_dir = config.log_dir or config.root / "logs"
        ports = {key: free_port() for key in ("postgres", "toxiproxy", "provider", "sut")}
        postgres = PostgresServer(data_home(config.root / "postgres"), ports["postgres"], log_dir / "postgres.log")
        toxiproxy = toxiproxy_process(ports["toxiproxy"], log_dir / "toxiproxy.log")
        stage = cls(config=config, target=target, state=state, postgres=postgres, toxiproxy_process=toxiproxy,
                    toxiproxy=ToxiproxyClient(f"http://127.0.0.1:{ports['toxiproxy']}"), ports=ports,
                    api_key="sk_test_" + _secret(config.seed, "api"),
                    webhook_secret="whsec_" + _secret(config.seed, "webhook"))
        state.toxiproxy_url = stage.toxiproxy.base_url
        if postgres.data_dir != config.root / "postgres":
            state.scratch.append(str(postgres.data_dir))
        state.save()
        try:
            wanted = [c for c in config.components if c in available_components()]
            early = target.provider.dialect == "native"  # another dialect is told the callbacks link
            if "provider" in wanted and early:
                stage._spawn_provider()  # needs nothing else: its interpreter warms up meanwhile
            stage._start_infrastructure()
            stage._create_links()
            if "provider" in wanted and not early:
                stage._spawn_provider()
            if target.provider.intercept:
                stage._spawn_intercept()
            postgres.create_database(SUT_DATABASE)
            if "sut" in wanted:
                stage._prepare_sut()
                stage._spawn_sut()
            for process in stage.components.values():
                process.wait_ready()
        except BaseException:
            stage.stop()
            raise
        return stage

    def _start_infrastructure(self) -> None:
        """PostgreSQL and Toxiproxy in parallel: together they are most of ``up``'s time."""
        errors: list[BaseException] = []

        def run(step: Callable[[], None]) -> None:
            try:
                step()
            except BaseException as exc:  # re-raised in the caller's thread below
                errors.append(exc)

        def postgres() -> None:
            self.postgres.init()
            self.postgres.start()
            self.state.record("postgres", self.postgres.pid, self.postgres.url)

        def toxiproxy() -> None:
            self.toxiproxy_process.spawn()
            self.state.record("toxiproxy", self.toxiproxy_process.pid, self.toxiproxy.base_url)
            self.toxiproxy_process.wait_ready()

        threads = [threading.Thread(target=run, args=(step,)) for step in (postgres, toxiproxy)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _create_links(self) -> None:
        upstreams = {"client": self.ports["sut"], "provider": self.ports["provider"],
                     "callbacks": self.ports["sut"], "db": self.ports["postgres"]}
        self.toxiproxy.reset()
        for existing in self.toxiproxy.proxies():
            self.toxiproxy.delete_proxy(existing)
        for name in LINKS:
            upstream = f"127.0.0.1:{upstreams[name]}"
            check_loopback(upstream, allow_remote=self.config.allow_remote, what=f"link {name} upstream")
            # Port 0: Toxiproxy binds a free port itself and keeps it across disable and enable.
            proxy = self.toxiproxy.create_proxy(name, "127.0.0.1:0", upstream)
            self.links[name] = Link(name=name, listen=proxy.listen, upstream=proxy.upstream)
        self.state.links = {n: {"listen": link.listen, "upstream": link.upstream} for n, link in self.links.items()}
        self.state.save()

    def _spawn_component(self, process: SupervisedProcess, url: str) -> None:
        """Start without waiting, so that the Python components' start-up overlaps the rest of ``up``."""
        self.components[process.name] = process
        self.component_urls[process.name] = url
        process.spawn()
        self.state.record(process.name, process.pid, url)

    def _spawn_provider(self) -> None:
        port = self.ports["provider"]
        argv = [sys.executable, "-m", "mock_provider", "--host", "127.0.0.1", "--port", str(port),
                "--db", str(self.config.root / "provider.db"), "--webhook-secret", self.webhook_secret,
                "--api-key", self.api_key, "--seed", str(self.config.seed)]
        if self.config.provider_processes > 1:
            # One parent and its processes, in the one process group the component's stop and crash signal.
            argv += ["--processes", str(self.config.provider_processes)]
        if self.target.provider.dialect != "native":
            # The dialect's webhooks go to one endpoint of the SUT, through the callbacks link.
            argv += ["--dialect", self.target.provider.dialect, "--stripe-webhook-path",
                     self.target.provider.webhook_path, "--callback-base-url", self.links["callbacks"].url]
        self._spawn_component(SupervisedProcess(
            name="provider", argv=argv, log_path=self.log_dir / "provider.log",
            probe=http_probe(f"{self.provider_url}/healthz"), ready_deadline_s=20.0), self.provider_url)

    def _spawn_intercept(self) -> None:
        """The HTTPS proxy to the provider link, with a test CA made for this stage and removed with it."""
        folder = self.config.root / "intercept"
        self.state.scratch.append(str(folder))
        self.state.save()
        self.intercept_certs = intercept.make_certs(folder)
        self.ports["intercept"] = free_port()
        self._spawn_component(intercept.proxy_process(self.ports["intercept"], self.links["provider"].listen,
                                                      self.intercept_certs, self.log_dir / "intercept.log"),
                              f"http://127.0.0.1:{self.ports['intercept']}")

    def stage_values(self) -> dict[str, str]:
        """What the stage provides a target's templates (``harness.target.STAGE_FIELDS``): every
        dependency through its link, as the SUT must reach it."""
        db_host, db_port = self.links["db"].listen.rsplit(":", 1)
        return {"port": str(self.ports["sut"]),
                "database_url": self.postgres.database_url(SUT_DATABASE, host=db_host, port=int(db_port)),
                "database_host": db_host, "database_port": db_port, "database_name": SUT_DATABASE,
                "database_user": DATABASE_USER, "database_password": "",
                "provider_url": self.links["provider"].url, "api_key": self.api_key,
                "publishable_key": publishable_key(self.api_key), "webhook_secret": self.webhook_secret,
                "callback_base_url": self.links["callbacks"].url}

    def sut_environment(self) -> dict[str, str]:
        """The SUT contract's environment (docs/design.md section 4), the target's own names for the same
        values, and the SDK shim when the target asks for it."""
        values = self.stage_values()
        env = {"PORT": values["port"], "DATABASE_URL": values["database_url"], "PROVIDER_URL": values["provider_url"],
               "PROVIDER_API_KEY": self.api_key, "PROVIDER_WEBHOOK_SECRET": self.webhook_secret,
               "CALLBACK_BASE_URL": values["callback_base_url"]}
        if self.target.provider.python_shim:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SHIM_DIR), os.environ.get("PYTHONPATH", "")) if p)
            env["ORDERQUAKE_STRIPE_API_BASE"] = values["provider_url"]
        if self.intercept_certs is not None:
            env.update(intercept.sut_environment(self.component_urls["intercept"], self.intercept_certs))
        return {**env, **self.target.environment(values), **self.config.sut_env}

    def flows_env(self) -> str:
        return flows_env(self.target, self.provider_url, self.api_key)

    def _prepare_sut(self) -> None:
        """The target's ``setup`` commands, then its ``fixtures`` SQL, before the SUT starts."""
        env = {**os.environ, **self.sut_environment()}
        log = self.log_dir / "setup.log"
        deadline = time.monotonic() + self.target.setup_deadline
        for command in self.target.setup:
            argv = self.target.command(command, self.config.variant, self.stage_values())
            run_setup(argv, env=env, cwd=self.target.cwd, log=log, deadline=deadline)
        if self.target.fixtures:
            self.postgres.run_sql(SUT_DATABASE, self.target.fixtures, what="the target's fixtures")

    def _spawn_sut(self) -> None:
        if "intercept" in self.components:
            self.components["intercept"].wait_ready()  # a SUT may call its provider as it starts
        self._spawn_component(SupervisedProcess(
            name="sut", argv=self.target.argv(self.config.variant, self.stage_values()), env=self.sut_environment(),
            log_path=self.log_dir / "sut.log", probe=http_probe(f"{self.sut_url}{self.target.health}"),
            ready_deadline_s=self.target.ready_deadline, error=SutError, cwd=self.target.cwd), self.sut_url)

    def restart(self, name: str) -> None:
        """Start a stopped or crashed component again and wait until it is ready."""
        process = self.components[name]
        process.spawn()
        self.state.record(name, process.pid, self.component_urls.get(name, ""))
        process.wait_ready()

    def register_process(self, name: str, pids: list[int]) -> None:
        """Record processes the run started (Locust) so that a killed harness leaves none behind."""
        for index, pid in enumerate(pids):
            self.state.record(f"{name}-{index}", pid)

    def heal(self) -> None:
        """Every toxic removed, every link enabled, PostgreSQL and every component running."""
        def postgres() -> None:
            if not self.postgres.running:
                self.postgres.start()
                self.state.record("postgres", self.postgres.pid, self.postgres.url)

        def restarted(name: str) -> Callable[[], None]:
            return lambda: None if self.components[name].running else self.restart(name)

        heal_each([self.toxiproxy.reset, postgres, *map(restarted, self.components)], "the stage")

    def stop(self) -> None:
        """Stop everything (SUT first, PostgreSQL last) and remove the state file."""
        for process in reversed(list(self.components.values())):
            process.stop()
        self.toxiproxy.close()
        self.toxiproxy_process.stop()
        self.postgres.stop("fast")
        self.state.kill_all()
        self.state.discard()
