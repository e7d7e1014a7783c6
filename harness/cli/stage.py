"""``orderquake up | down | status | fault``: a stage left running for exploration."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness._exceptions import UsageError
from harness._units import parse_fraction
from harness.load import LOCUSTFILE
from harness.stage import LINKS
from harness.stage.control import (
    DOWN,
    FAULT_KINDS,
    add_fault,
    check_fault,
    down,
    remove_fault,
    running_stage,
    status,
    up,
)
from harness.stage.toxics import SCHEMA, ToxicKind
from harness.target import load_target

_ATTRIBUTES = sorted({attribute.name for attributes in SCHEMA.values() for attribute in attributes})


def _up(args: argparse.Namespace) -> int:
    target = load_target(args.target)
    stage = up(target=target, variant=args.variant, seed=args.seed, allow_remote=args.allow_remote)
    print(f"stage up ({target.name}, variant {args.variant or 'correct'}, seed {args.seed})")
    _print_status(running_stage())
    flows = ""
    if stage.flows_env():
        path = stage.config.root / "flows.json"
        path.write_text(stage.flows_env())
        flows = f"ORDERQUAKE_FLOWS=@{path} "
    print(f"\nload it by hand with Locust's web UI:\n  {flows}ORDERQUAKE_HISTORY_DIR={stage.config.root / 'history'} "
          f"{sys.executable} -m locust -f {LOCUSTFILE} --host {stage.client_url}")
    print("faults: 'orderquake fault add latency --link provider --latency 300ms'; stop: 'orderquake down'")
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = down()
    print(f"stage down: stopped {', '.join(stopped)}" if stopped else "no stage was up")
    return 0


def _print_status(state: Any) -> None:
    current = status(state)
    info = current.info
    if info:
        print(f"stage: target {info.get('target')} ({info.get('variant')}), provider dialect "
              f"{info.get('provider_dialect', 'native')}, operations {', '.join(info.get('operations', []))}")
        print(f"  api key {info.get('api_key')}  publishable key {info.get('publishable_key', '-')}  "
              f"webhook secret {info.get('webhook_secret')}")
        if info.get("webhook_url"):
            print(f"  the provider's webhooks go to {info['webhook_url']}")
        print(f"  SUT database (direct) {info.get('sut_database_url')}")
    print("components:")
    for name, entry in current.components.items():
        mark = "healthy" if entry["healthy"] else "NOT HEALTHY"
        print(f"  {name:<10} pid {entry['pid']:<8} {mark:<12} {entry['url']}")
    print("links (Toxiproxy):")
    for name, link in current.links.items():
        toxics = ", ".join(t["name"] for t in link["toxics"]) or "-"
        enabled = "enabled" if link["enabled"] else "DOWN"
        print(f"  {name:<10} {link['listen']:<22} -> {link['upstream']:<22} {enabled:<8} toxics: {toxics}")


def _status(args: argparse.Namespace) -> int:
    state = running_stage()
    if args.json:
        print(json.dumps(status(state).to_json(), indent=2))
    else:
        _print_status(state)
    return 0


def _fault_add(args: argparse.Namespace) -> int:
    attributes = {name: getattr(args, name) for name in _ATTRIBUTES if getattr(args, name) is not None}
    toxicity = parse_fraction(args.toxicity, name="toxicity")
    check_fault(args.kind, attributes)  # the user's mistake is told before the stage is looked for
    added = add_fault(running_stage(), args.kind, link=args.link, stream=args.stream, toxicity=toxicity,
                      attributes=attributes, name=args.name)
    print(f"added {', '.join(added)} on link {args.link}")
    return 0


def _fault_remove(args: argparse.Namespace) -> int:
    if (args.name is None) == (not args.all):
        raise UsageError("give a fault NAME (see 'orderquake fault list') or --all")
    removed = remove_fault(running_stage(), None if args.all else args.name)
    print(f"removed {', '.join(removed)}")
    return 0


def _fault_list(args: argparse.Namespace) -> int:
    current = status(running_stage())
    rows = []
    for link, data in current.links.items():
        if not data["enabled"]:
            rows.append(f"  down:{link:<20} link {link} is down")
        for toxic in data["toxics"]:
            rows.append(f"  {toxic['name']:<25} {toxic['kind']:<11} on {link:<9} {toxic['stream']:<10} "
                        f"toxicity {toxic['toxicity']:g} {json.dumps(toxic['attributes'])}")
    print("\n".join(rows) if rows else "no fault on the stage")
    return 0


def _expected_options(kind: str | None, prog: str) -> str:
    """What a fault command accepts besides its own options: the kind's attributes, when it has one."""
    if kind == DOWN:
        return "--link, --stream, --toxicity or --name (a link taken down has no attributes)"
    if kind in {k.value for k in ToxicKind}:
        attributes = ", ".join(f"--{a.name.replace('_', '-')}" for a in SCHEMA[ToxicKind(kind)])
        return f"--link, --stream, --toxicity, --name or the attributes of {kind}: {attributes or 'none'}"
    return f"the options '{prog} --help' lists"


def _rejecting_unknown_options(base: type[argparse.ArgumentParser]) -> type[argparse.ArgumentParser]:
    """The dispatcher's parser class, but a misspelled attribute option lists the kind's attributes.

    argparse would leave it to the top-level parser, whose message names no allowed value.
    """

    class FaultParser(base):  # type: ignore[valid-type,misc]
        def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
            parsed, extras = super().parse_known_args(args, namespace)
            unknown = [extra for extra in extras if extra.startswith("-")]
            if unknown:
                expected = _expected_options(getattr(parsed, "kind", None), self.prog)
                self.error(f"unknown option(s) {', '.join(unknown)}: expected {expected}")
            return parsed, extras

    return FaultParser


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("up", help="start a stage and leave it running for exploration")
    parser.add_argument("--target", type=Path, help="target file (default: the reference service)")
    parser.add_argument("--variant", help="the target's variant (default: correct)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the provider's random choices (default 1)")
    parser.add_argument("--allow-remote", action="store_true", help="allow upstreams outside loopback")
    parser.set_defaults(handler=_up)

    subparsers.add_parser("down", help="stop the running stage and remove its files").set_defaults(handler=_down)

    parser = subparsers.add_parser("status", help="what runs where on the running stage")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable: components, links, and the stage's keys, dialect and SUT environment")
    parser.set_defaults(handler=_status)

    fault = subparsers.add_parser("fault", help="add, remove or list manual faults on the running stage")
    actions = fault.add_subparsers(dest="action", metavar="ACTION", required=True,
                                   parser_class=_rejecting_unknown_options(type(fault)))
    add = actions.add_parser("add", help="add a Toxiproxy toxic, or take a link down")
    add.add_argument("kind", choices=FAULT_KINDS, help="a Toxiproxy toxic, or 'down' (link disabled)")
    add.add_argument("--link", required=True, choices=LINKS, help="which link")
    add.add_argument("--stream", choices=("up", "down", "both", "upstream", "downstream"), default="down",
                     help="direction (default: down, server to client)")
    add.add_argument("--toxicity", default=1.0, help="fraction of connections affected (default 1)")
    add.add_argument("--name", help="name of the toxic (default: KIND_STREAM)")
    for name in _ATTRIBUTES:
        add.add_argument(f"--{name.replace('_', '-')}", dest=name,
                         help="toxic attribute (durations like 300ms or 1.5s where the attribute is a time)")
    add.set_defaults(handler=_fault_add)
    remove = actions.add_parser("remove", help="remove a fault by name, or every fault with --all")
    remove.add_argument("name", nargs="?", help="fault name as 'orderquake fault list' shows it")
    remove.add_argument("--all", action="store_true", help="remove every toxic and enable every link")
    remove.set_defaults(handler=_fault_remove)
    actions.add_parser("list", help="the faults the stage holds").set_defaults(handler=_fault_list)
