"""Process faults: PostgreSQL stopped or killed, the provider or the SUT killed with SIGKILL.

Each is undone at heal by starting what is not running and waiting until it is ready, so a heal
after a failed apply (nothing was stopped) does nothing, and a second heal does nothing either.
"""

from __future__ import annotations

from harness.faults.base import Fault, FaultContext


def _restart_postgres(ctx: FaultContext) -> None:
    postgres = ctx.stage.postgres
    if not postgres.running:
        postgres.start()
        # the state file must name the new postmaster, or a killed harness would leave it behind
        ctx.stage.state.record("postgres", postgres.pid, postgres.url)


class DbOutage(Fault):
    """PostgreSQL stops at once (``pg_ctl -m immediate``: no checkpoint, crash recovery at start)."""

    kind = "db_outage"
    summary = "stop PostgreSQL immediately; start it again at heal"

    def apply(self, ctx: FaultContext) -> None:
        ctx.stage.postgres.stop("immediate")

    def heal(self, ctx: FaultContext) -> None:
        _restart_postgres(ctx)


class DbKill(Fault):
    """The postmaster and its backends get SIGKILL, as when the database machine loses power."""

    kind = "db_kill"
    summary = "SIGKILL the PostgreSQL postmaster; start it again at heal"

    def apply(self, ctx: FaultContext) -> None:
        ctx.stage.postgres.kill()

    def heal(self, ctx: FaultContext) -> None:
        _restart_postgres(ctx)


class _ComponentCrash(Fault):
    """SIGKILL one supervised component; restart it at heal and wait until it is ready."""

    component: str

    def apply(self, ctx: FaultContext) -> None:
        ctx.stage.components[self.component].crash()

    def heal(self, ctx: FaultContext) -> None:
        if not ctx.stage.components[self.component].running:
            ctx.stage.restart(self.component)


class ProviderCrash(_ComponentCrash):
    kind = "provider_crash"
    summary = "SIGKILL the mock provider (its ledger survives); restart it at heal"
    component = "provider"


class SutCrash(_ComponentCrash):
    kind = "sut_crash"
    summary = "SIGKILL the system under test; restart it at heal and wait until it is healthy"
    component = "sut"
