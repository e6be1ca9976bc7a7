"""`rebound`: chat in the terminal, check the dialogs, manage the database, serve the platforms."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rebound", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    chat = sub.add_parser("chat", help="talk to Rebound in this terminal")
    chat.add_argument("--json", action="store_true", help="one JSON event per line in and out")
    chat.add_argument("--user", default="you", help="who is talking (terminal user id)")
    sub.add_parser("check", help="validate every dialog file and the safety model, then exit")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "current"])
    exp = sub.add_parser(
        "export", help="write everything stored about a user as JSON and Markdown files"
    )
    exp.add_argument("user", help="the user key, e.g. terminal::you or slack:T123:U456")
    exp.add_argument("--to", default=".", help="folder for the files (default: here)")
    exp.add_argument("--stdout", action="store_true", help="print the JSON instead")
    fgt = sub.add_parser("forget", help="delete everything stored about a user")
    fgt.add_argument("user")
    sub.add_parser("keygen", help="print a new REBOUND_ENCRYPTION_KEY")
    keys = sub.add_parser("keys", help="encryption keys")
    keys.add_argument(
        "action",
        choices=["rotate"],
        help="re-encrypt everything with the first key of REBOUND_ENCRYPTION_KEY=NEW,OLD",
    )
    sub.add_parser("run", help="serve Slack and/or Discord, whichever is configured")
    sub.add_parser("nudges", help="deliver the nudges due now (one scheduler pass), then exit")
    dsc = sub.add_parser("discord", help="Discord set-up")
    dsc.add_argument(
        "action",
        choices=["sync"],
        help="register the slash commands (to DISCORD_GUILD_ID if set, else globally)",
    )
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_dispatch(args))
    except ConfigError as exc:
        print(exc.code, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace) -> int:
    from bot.app import build_app, load_contextual, load_dialogs, load_safety_model, open_store

    if args.cmd == "keygen":
        from bot.store.crypto import Cipher

        print(Cipher.generate())
        return 0
    settings = load_settings()
    if args.cmd == "check":
        catalog = load_dialogs(settings)
        steps = len(catalog.steps)
        print(f"dialogs ok: {len(catalog.flows)} flows, {steps} steps, {len(catalog.texts)} texts")
        model = load_safety_model()
        print(f"safety model ok: trained on {model.trained_on}, thresholds {model.thresholds}")
        if settings.safety_contextual:
            reader = load_contextual()
            print(f"contextual reader ok: trained on {reader.trained_on}, {reader.band}")
        else:
            print("contextual reader off (REBOUND_SAFETY_CONTEXTUAL=false): fewer crises caught")
        return 0
    if args.cmd == "db":
        from bot.store import make_engine, migrate

        engine = make_engine(settings.database_url)
        if args.action == "upgrade":
            migrate.upgrade(engine)
        print(f"schema at {migrate.current(engine)} (newest {migrate.head()})")
        return 0
    if args.cmd == "keys":
        from bot.store import keys

        store = open_store(settings)
        try:
            counts = keys.rotate(store.engine, store.cipher)
        finally:
            await store.close()
        total = sum(counts.values())
        print(f"re-encrypted {total} values with the first key; the old key can now be removed")
        return 0
    if args.cmd in ("export", "forget"):
        store = open_store(settings)
        try:
            if args.cmd == "export" and args.stdout:
                print(json.dumps(await store.export(args.user), indent=2, default=str))
            elif args.cmd == "export":
                from bot.export import write_export

                for path in write_export(await store.export(args.user), Path(args.to)):
                    print(path)
            else:
                await store.forget(args.user)
                print(f"forgot {args.user}")
        finally:
            await store.close()
        return 0
    if args.cmd == "nudges":
        from bot.run import nudge_pass

        stats = await nudge_pass(settings)
        print(
            f"nudges: claimed {stats.claimed}, sent {stats.sent}, collapsed {stats.collapsed}, "
            f"stale {stats.stale}, deferred {stats.deferred}, retried {stats.retried}, "
            f"failed {stats.failed}, unreachable {stats.unreachable}"
        )
        return 0
    if args.cmd == "discord":
        from adapters.discord import sync_commands

        app = build_app(settings)
        try:
            print(await sync_commands(app))
        finally:
            await app.close()
        return 0
    if args.cmd == "run":
        from bot.run import serve

        await serve(settings)
        return 0
    app = build_app(settings)
    try:
        from adapters.terminal.run import run_interactive, run_json

        if args.json:
            await run_json(app.engine, settings.files_dir)
        else:
            await run_interactive(app.engine, settings.files_dir, user=args.user)
    finally:
        await app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
