"""The real Toxiproxy server, and a small typed client for its whole HTTP API.

Every call has a timeout; Toxiproxy's refusals and an unreachable API become ``ToxiproxyError``
with the server's own message. Toxic attributes are validated by ``harness.stage.toxics`` first,
because Toxiproxy ignores the ones it does not know.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness._exceptions import InfrastructureError, ToxiproxyError, UsageError
from harness._paths import tools_dir
from harness.stage.process import SupervisedProcess, http_probe
from harness.stage.toxics import Stream, ToxicKind, toxic_kind, validate_toxic
from harness.stage.toxics import stream as parse_stream

_INSTALL_HINT = ("toxiproxy-server not found: run 'make setup' (installs it with 'go install "
                 "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0') or set TOXIPROXY_SERVER to its path")


def toxiproxy_binary() -> Path:
    """TOXIPROXY_SERVER, then PATH, then the project's tools folder."""
    explicit = os.environ.get("TOXIPROXY_SERVER")
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return Path(explicit)
        raise InfrastructureError(f"TOXIPROXY_SERVER={explicit} is not an executable file: {_INSTALL_HINT}")
    found = shutil.which("toxiproxy-server")
    if found:
        return Path(found)
    local = tools_dir() / "bin" / "toxiproxy-server"
    if local.is_file():
        return local
    raise InfrastructureError(_INSTALL_HINT)


def toxiproxy_process(port: int, log_path: Path) -> SupervisedProcess:
    """A supervised ``toxiproxy-server`` on 127.0.0.1:``port``, ready when ``/version`` answers."""
    argv = [str(toxiproxy_binary()), "-host", "127.0.0.1", "-port", str(port)]
    return SupervisedProcess(name="toxiproxy", argv=argv, log_path=log_path,
                             probe=http_probe(f"http://127.0.0.1:{port}/version"), ready_deadline_s=10.0)


@dataclass(frozen=True)
class Toxic:
    name: str
    kind: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Toxic:
        return cls(name=data["name"], kind=data["type"], stream=data["stream"],
                   toxicity=float(data.get("toxicity", 1.0)), attributes=dict(data.get("attributes") or {}))


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...]

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Proxy:
        return cls(name=data["name"], listen=data["listen"], upstream=data["upstream"],
                   enabled=bool(data["enabled"]), toxics=tuple(Toxic.from_api(t) for t in data.get("toxics") or []))


class ToxiproxyClient:
    """``ToxiproxyClient("http://127.0.0.1:8474").create_proxy("db", "127.0.0.1:0", "127.0.0.1:5432")``."""

    def __init__(self, base_url: str, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.base_url} could not be reached ({exc}); is the stage up? "
                                 "'orderquake status' shows it") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise ToxiproxyError(f"Toxiproxy refused {method} {path}: {response.status_code} {detail}")
        return response.json() if response.content else None

    def version(self) -> str:
        try:
            response = self._http.get("/version")
        except httpx.HTTPError as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.base_url} could not be reached: {exc}") from exc
        text = response.text.strip()
        try:
            return str(response.json().get("version", text))
        except ValueError:
            return text

    def proxies(self) -> dict[str, Proxy]:
        return {name: Proxy.from_api(data) for name, data in self._call("GET", "/proxies").items()}

    def proxy(self, name: str) -> Proxy:
        return Proxy.from_api(self._call("GET", f"/proxies/{name}"))

    def create_proxy(self, name: str, listen: str, upstream: str, *, enabled: bool = True) -> Proxy:
        return Proxy.from_api(self._call("POST", "/proxies", {"name": name, "listen": listen,
                                                              "upstream": upstream, "enabled": enabled}))

    def set_enabled(self, name: str, enabled: bool) -> Proxy:
        return Proxy.from_api(self._call("POST", f"/proxies/{name}", {"enabled": enabled}))

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def add_toxic(self, proxy: str, kind: ToxicKind | str, *, name: str | None = None,
                  stream: Stream | str = Stream.DOWNSTREAM, toxicity: float = 1.0,
                  attributes: Mapping[str, Any] | None = None) -> Toxic:
        kind = toxic_kind(kind) if isinstance(kind, str) else kind
        stream = parse_stream(stream) if isinstance(stream, str) else stream
        if not 0.0 <= toxicity <= 1.0:
            raise UsageError(f"toxicity: expected a fraction within 0..1, got {toxicity}")
        body = {"name": name or f"{kind.value}_{stream.value}", "type": kind.value, "stream": stream.value,
                "toxicity": toxicity, "attributes": validate_toxic(kind, attributes or {})}
        return Toxic.from_api(self._call("POST", f"/proxies/{proxy}/toxics", body))

    def update_toxic(self, proxy: str, toxic: Toxic, *, toxicity: float | None = None,
                     attributes: Mapping[str, Any] | None = None) -> Toxic:
        body: dict[str, Any] = {}
        if toxicity is not None:
            body["toxicity"] = toxicity
        if attributes is not None:
            body["attributes"] = validate_toxic(toxic.kind, {**toxic.attributes, **attributes})
        return Toxic.from_api(self._call("POST", f"/proxies/{proxy}/toxics/{toxic.name}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")
